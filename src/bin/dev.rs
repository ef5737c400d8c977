//! `nlu-lab-dev`: course developers' commands, kept out of the user's `nlu-lab`: the engine benchmark and the
//! synthetic checkpoints the tests and benchmarks run on. Only with the `bench` feature
//! (`cargo run --features bench --bin nlu-lab-dev -- --help`), as scripts/test.sh and scripts/bench*.sh build it.

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = dev::run() {
        eprintln!("nlu-lab-dev: {e}");
        std::process::exit(2);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

/// The system allocator, counting the bytes live and their peak: `export-bench` reports the heap an export needs.
#[cfg(not(target_arch = "wasm32"))]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    pub struct Counting;
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
                PEAK.fetch_max(live, Relaxed);
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
            unsafe { System.dealloc(p, layout) };
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, layout, new_size) };
            if !q.is_null() {
                if new_size >= layout.size() {
                    let live = LIVE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                    PEAK.fetch_max(live, Relaxed);
                } else {
                    LIVE.fetch_sub(layout.size() - new_size, Relaxed);
                }
            }
            q
        }
    }

    /// Run `f` and return its result with the peak of live heap bytes above those live when it started.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let start = LIVE.load(Relaxed);
        PEAK.store(start, Relaxed);
        let out = f();
        (out, PEAK.load(Relaxed) - start)
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[cfg(not(target_arch = "wasm32"))]
mod dev {
    use std::path::{Path, PathBuf};

    use lexopt::prelude::*;

    const USAGE: &str = "usage (course developers; the user's commands are in `nlu-lab`):
  nlu-lab-dev bench-precision
      The bert-base-shaped encoder in f32, f16 and int8 (packed as `nlu-lab pack` does), timed in turns at 16 and
      64 tokens: weight bytes, load and forward times, each precision's ratio to f32 (scripts/bench_engine.sh).
  nlu-lab-dev bench
      Times a bert-base-shaped encoder (synthetic weights) at 16/64/128 tokens, attention and Q/K captured.
  nlu-lab-dev synth-clip --fixture DIR --out DIR [--full-depth]
      Writes a CLIP checkpoint with the deterministic synthetic weights of tests/fixtures/clip (see its README):
      DIR's config.json, tokenizer.json, preprocessor_config.json plus a generated model.safetensors;
      --full-depth: ViT-B/32's 12 + 12 layers (about 600 MB), for speed and memory figures.
  nlu-lab-dev synth-bert --tokenizer FILE --out DIR [--config FILE]
      Writes the bert-base-shaped checkpoint of `nlu-lab-dev bench` (synthetic weights, about 440 MB) with FILE as
      its tokenizer.json (e.g. MiniLM's, which has bert-base-uncased's vocabulary): for scripts/bench.sh;
      --config: another BERT, RoBERTa or DistilBERT config.json, whose shape the weights then take.
  nlu-lab-dev export-bench [--tokens N] [--out DIR]
      Sizes, times and peak heap of the JSON and standalone HTML exports of an N-token input (default 512;
      synthetic attention) in MiniLM's (6 × 12) and bert-base's (12 × 12) shapes; --out DIR also writes the files
      (minilm.json, minilm.html, bert-base.json, bert-base.html) for tests/e2e/bench-export.mjs.";

    pub fn run() -> Result<(), String> {
        let mut parser = lexopt::Parser::from_env();
        match parser.next().map_err(|e| e.to_string())? {
            Some(Value(cmd)) if cmd == "bench" => bench(),
            Some(Value(cmd)) if cmd == "bench-precision" => bench_precision(),
            Some(Value(cmd)) if cmd == "synth-clip" => synth_clip(parser),
            Some(Value(cmd)) if cmd == "synth-bert" => synth_bert(parser),
            Some(Value(cmd)) if cmd == "export-bench" => export_bench(parser),
            Some(Long("help")) | Some(Short('h')) | None => {
                println!("{USAGE}");
                Ok(())
            }
            Some(other) => Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }

    fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
        std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display()))
    }

    fn value(parser: &mut lexopt::Parser) -> Result<String, String> {
        parser.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "argument is not UTF-8".to_string())
    }

    fn bench() -> Result<(), String> {
        use nlu_lab::engine::bench::{bench_encoder, bert_base_config, format_report};
        let start = std::time::Instant::now();
        let now = move || start.elapsed().as_secs_f64() * 1e3;
        let report = bench_encoder(&bert_base_config(), &[16, 64, 128], 10, &now).map_err(|e| e.to_string())?;
        print!("{}", format_report("native", &report));
        Ok(())
    }

    fn bench_precision() -> Result<(), String> {
        use nlu_lab::engine::bench::{bench_precisions, bert_base_config, format_precisions};
        let start = std::time::Instant::now();
        let now = move || start.elapsed().as_secs_f64() * 1e3;
        let rows = bench_precisions(&bert_base_config(), &[16, 64], 10, &now).map_err(|e| e.to_string())?;
        print!("{}", format_precisions("native", &rows));
        Ok(())
    }

    fn synth_clip(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::{clip, synth};
        let (mut fixture, mut out, mut full_depth) = (None::<PathBuf>, None::<PathBuf>, false);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("fixture") => fixture = Some(value(&mut parser)?.into()),
                Long("full-depth") => full_depth = true,
                Long("out") => out = Some(value(&mut parser)?.into()),
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let (fixture, out) = (fixture.ok_or("--fixture DIR is required")?, out.ok_or("--out DIR is required")?);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        for file in ["tokenizer.json", "preprocessor_config.json"] {
            std::fs::copy(fixture.join(file), out.join(file)).map_err(|e| format!("{file}: {e}"))?;
        }
        let config = String::from_utf8(read(&fixture, "config.json")?).map_err(|_| "config.json is not UTF-8")?;
        let config = if full_depth {
            // The fixture's widths with ViT-B/32's full 12 + 12 layers: the speed and memory stand-in.
            let mut json: serde_json::Value = serde_json::from_str(&config).map_err(|e| e.to_string())?;
            json["text_config"]["num_hidden_layers"] = 12.into();
            json["vision_config"]["num_hidden_layers"] = 12.into();
            let text = json.to_string();
            std::fs::write(out.join("config.json"), &text).map_err(|e| e.to_string())?;
            clip::Config::from_json(&text).map_err(|e| e.to_string())?
        } else {
            std::fs::copy(fixture.join("config.json"), out.join("config.json")).map_err(|e| e.to_string())?;
            clip::Config::from_json(&config).map_err(|e| e.to_string())?
        };
        let bytes = synth::clip_checkpoint(&config, synth::CLIP_FIXTURE_SEED).map_err(|e| e.to_string())?;
        // Write then rename: an interrupted run never leaves a file that looks complete.
        let part = out.join("model.safetensors.part");
        std::fs::write(&part, &bytes).map_err(|e| format!("{}: {e}", part.display()))?;
        std::fs::rename(&part, out.join("model.safetensors")).map_err(|e| e.to_string())?;
        println!("synthetic CLIP ({} bytes) in {}", bytes.len(), out.display());
        Ok(())
    }

    fn synth_bert(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::{bench, synth};
        let (mut tokenizer, mut out, mut config) = (None::<PathBuf>, None::<PathBuf>, None::<PathBuf>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("tokenizer") => tokenizer = Some(value(&mut parser)?.into()),
                Long("config") => config = Some(value(&mut parser)?.into()),
                Long("out") => out = Some(value(&mut parser)?.into()),
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let (tokenizer, out) = (tokenizer.ok_or("--tokenizer FILE is required")?, out.ok_or("--out DIR is required")?);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        std::fs::copy(&tokenizer, out.join("tokenizer.json")).map_err(|e| format!("{}: {e}", tokenizer.display()))?;
        let config_json = match &config {
            Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
            None => bench::BERT_BASE_CONFIG_JSON.to_string(),
        };
        let parsed = nlu_lab::engine::bert::Config::from_json(&config_json).map_err(|e| e.to_string())?;
        std::fs::write(out.join("config.json"), &config_json).map_err(|e| e.to_string())?;
        let bytes = synth::bert_checkpoint(&parsed, bench::BERT_BASE_SEED).map_err(|e| e.to_string())?;
        let part = out.join("model.safetensors.part");
        std::fs::write(&part, &bytes).map_err(|e| format!("{}: {e}", part.display()))?;
        std::fs::rename(&part, out.join("model.safetensors")).map_err(|e| e.to_string())?;
        println!("synthetic encoder ({} bytes) in {}", bytes.len(), out.display());
        Ok(())
    }

    /// Counts what is written and drops it: the cost of producing an export, without where it goes.
    struct CountingSink(u64);

    impl std::io::Write for CountingSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn export_bench(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::standalone::write_standalone_html;
        use nlu_lab::engine::synth;
        use std::io::Write;
        use std::time::Instant;
        let (mut tokens, mut out) = (512usize, None::<PathBuf>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("tokens") => tokens = value(&mut parser)?.parse().map_err(|_| "--tokens takes a number")?,
                Long("out") => out = Some(value(&mut parser)?.into()),
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let mb = |b: u64| b as f64 / 1e6;
        for (name, layers, heads, head_dim) in [("minilm", 6, 12, 32), ("bert-base", 12, 12, 64)] {
            let data = synth::attention_data(name, layers, heads, head_dim, tokens, 0xE4_0B7);
            let floats = data.weights.len();
            println!("export {name} ({layers} layers × {heads} heads, {tokens} tokens): {floats} weights = {:.1} MB as f32", mb(4 * floats as u64));
            type Export<'a> = &'a dyn Fn(&mut CountingSink) -> std::io::Result<()>;
            let exports: [(&str, Export); 2] = [
                ("json", &|w| data.write_json(w)),
                ("html", &|w| write_standalone_html(&data, w)),
            ];
            for (kind, write) in exports {
                let mut sink = CountingSink(0);
                let t0 = Instant::now();
                let (written, peak) = crate::counting::peak_during(|| write(&mut sink));
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                written.map_err(|e| e.to_string())?;
                println!("export {name} {kind}: {:.1} MB in {ms:.0} ms ({:.0} MB/s), peak heap while writing {:.3} MB", mb(sink.0), mb(sink.0) / (ms / 1e3), mb(peak as u64));
            }
            // What a single Vec would cost instead (a `Vec` grown by doubling, as `to_json_bytes` does).
            let ((), peak) = crate::counting::peak_during(|| drop(std::hint::black_box(data.to_json_bytes())));
            println!("export {name} json into one Vec: peak heap {:.1} MB", mb(peak as u64));
            if let Some(dir) = &out {
                for (kind, path) in [("json", dir.join(format!("{name}.json"))), ("html", dir.join(format!("{name}.html")))] {
                    let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
                    let written = if kind == "json" { data.write_json(&mut w) } else { write_standalone_html(&data, &mut w) };
                    written.and_then(|_| w.flush()).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
        Ok(())
    }
}
