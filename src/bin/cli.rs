//! `nlu-lab`: the engine on the command line, for course staff (precompute attention, check a submission).

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = cli::run() {
        eprintln!("nlu-lab: {e}");
        std::process::exit(2);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use lexopt::prelude::*;
    use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles};

    const USAGE: &str = "usage:
  nlu-lab attention --model DIR --text TEXT [--text-b TEXT] [--queries-keys] [--format json|html]
      DIR holds config.json, tokenizer.json and model.safetensors (a BERT, RoBERTa or DistilBERT checkpoint).
      Prints the attention data as JSON (schema nlu-lab/attention@1, see README), or with --format html a
      standalone head view page that needs no network and no model.
  nlu-lab clip --model DIR --image FILE --caption TEXT --caption TEXT ... [--format json]
      DIR holds config.json, tokenizer.json, preprocessor_config.json and model.safetensors of a CLIP checkpoint.
      Prints input ids, logits and probabilities as JSON (schema nlu-lab/clip@1, see README).
  nlu-lab pack --model DIR --dtype f16|int8 --out DIR [--repo REPO --revision COMMIT] [--image FILE ...]
               [--max-piece-mb MIB]
      Writes a model folder with compact weights (README, \"Compact weights\"): model.safetensors, the config,
      tokenizer and preprocessor files, and nlu-lab-pack.json. Prints the sizes and the packed model's largest
      difference from DIR on built-in inputs (encoders: attention and Q/K; CLIP: probabilities and logits on
      generated images and any --image). --max-piece-mb: weights larger than MIB MiB are written in pieces
      (model-00001-of-0000n.safetensors and model.safetensors.index.json, transformers' sharded layout), as a
      static host needs them (the app reads them; this CLI reads model.safetensors).
  nlu-lab catalogue
      Prints the app's models as JSON: repository, revision and every file with the revision it is fetched at,
      its size and sha256 where pinned (scripts/bundle_models.sh checks what it fetches against these).
course developers: the benchmark and the synthetic checkpoints are commands of `nlu-lab-dev`, built with the
  `bench` feature: cargo run --features bench --bin nlu-lab-dev -- --help";

    pub fn run() -> Result<(), String> {
        let mut parser = lexopt::Parser::from_env();
        match parser.next().map_err(|e| e.to_string())? {
            Some(Value(cmd)) if cmd == "attention" => attention(parser),
            Some(Value(cmd)) if cmd == "clip" => clip(parser),
            Some(Value(cmd)) if cmd == "pack" => pack(parser),
            Some(Value(cmd)) if cmd == "catalogue" => catalogue(),
            Some(Long("help")) | Some(Short('h')) | None => {
                println!("{USAGE}");
                Ok(())
            }
            Some(other) => Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }

    fn catalogue() -> Result<(), String> {
        use nlu_lab::engine::catalogue::{Family, CATALOGUE};
        let models: Vec<serde_json::Value> = CATALOGUE
            .iter()
            .map(|e| {
                let files: Vec<serde_json::Value> = e
                    .files
                    .iter()
                    .map(|f| serde_json::json!({ "name": f.name, "revision": f.revision, "size": f.size, "sha256": f.sha256 }))
                    .collect();
                let family = if e.family == Family::Clip { "clip" } else { "encoder" };
                serde_json::json!({ "repo": e.repo, "revision": e.revision, "family": family, "verified": e.is_verified(), "files": files })
            })
            .collect();
        print_json(&serde_json::json!({ "schema": "nlu-lab/catalogue@1", "models": models }))
    }

    fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
        std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display()))
    }

    fn clip(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::pipeline::{ClipClassifier, ClipFiles};
        let (mut model, mut image, mut captions, mut format) = (None::<PathBuf>, None::<PathBuf>, Vec::new(), "json".to_string());
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Long("image") => image = Some(value(&mut parser)?.into()),
                Long("caption") => captions.push(value(&mut parser)?),
                Long("format") => format = value(&mut parser)?,
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let dir = model.ok_or("--model DIR is required")?;
        let image = image.ok_or("--image FILE is required")?;
        // Before the model loads and before the file is read: a file over the limit is refused by its size.
        if let Ok(meta) = std::fs::metadata(&image) {
            nlu_lab::engine::image_prep::check_file_size(meta.len()).map_err(|e| format!("{}: {e}", image.display()))?;
        }
        if format != "json" {
            return Err(format!("unknown --format {format} (json)"));
        }
        let text = |file: &str| -> Result<String, String> {
            String::from_utf8(read(&dir, file)?).map_err(|_| format!("{file} is not UTF-8"))
        };
        let (config, preprocessor) = (text("config.json")?, text("preprocessor_config.json")?);
        let (tokenizer, weights) = (read(&dir, "tokenizer.json")?, read(&dir, "model.safetensors")?);
        let files = ClipFiles { config_json: &config, tokenizer_json: &tokenizer, preprocessor_config_json: &preprocessor, safetensors: &weights };
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let classifier = ClipClassifier::load(&name, &files).map_err(|e| e.to_string())?;
        let image_bytes = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
        let r = classifier.classify(&image_bytes, &captions).map_err(|e| e.to_string())?;
        print_json(&serde_json::json!({
            "schema": "nlu-lab/clip@1",
            "model": r.model,
            "captions": r.captions,
            "input_ids": r.input_ids,
            "truncated": r.truncated,
            "logit_scale_exp": r.temperature,
            "cosines": r.cosines,
            "logits": r.logits,
            "probs": r.probs,
        }))
    }

    /// The files a model folder may hold besides the weights, copied as they are into a pack.
    const SMALL_FILES: [&str; 6] = [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ];

    fn pack(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::compact::Precision;
        use nlu_lab::engine::pack;
        let (mut model, mut out, mut dtype, mut repo, mut revision, mut images) =
            (None::<PathBuf>, None::<PathBuf>, None, None, None, Vec::new());
        let mut max_piece: Option<u64> = None;
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Long("out") => out = Some(value(&mut parser)?.into()),
                Long("dtype") => dtype = Some(value(&mut parser)?),
                Long("repo") => repo = Some(value(&mut parser)?),
                Long("revision") => revision = Some(value(&mut parser)?),
                Long("image") => images.push(PathBuf::from(value(&mut parser)?)),
                Long("max-piece-mb") => {
                    let v = value(&mut parser)?;
                    let mib: u64 = v.parse().ok().filter(|m| *m > 0).ok_or(format!("--max-piece-mb {v}: a whole number of MiB"))?;
                    max_piece = Some(mib << 20);
                }
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let dir = model.ok_or("--model DIR is required")?;
        let out = out.ok_or("--out DIR is required")?;
        let dtype = dtype.ok_or("--dtype f16|int8 is required")?;
        let precision = Precision::parse(&dtype).filter(|p| *p != Precision::F32).ok_or(format!("unknown --dtype {dtype} (f16, int8)"))?;
        if out.canonicalize().ok().is_some_and(|o| dir.canonicalize().ok() == Some(o)) {
            return Err("--out must be another folder than --model".into());
        }
        let source = read(&dir, "model.safetensors")?;
        let config = String::from_utf8(read(&dir, "config.json")?).map_err(|_| "config.json is not UTF-8")?;
        let is_clip = serde_json::from_str::<serde_json::Value>(&config)
            .ok()
            .and_then(|v| v.get("model_type").and_then(|t| t.as_str()).map(|t| t == "clip"))
            .unwrap_or(false);
        let tokenizer = read(&dir, "tokenizer.json")?;
        let preprocessor = if is_clip {
            String::from_utf8(read(&dir, "preprocessor_config.json")?).map_err(|_| "preprocessor_config.json is not UTF-8")?
        } else {
            String::new()
        };
        // int8 values chosen by GPTQ on the packer's calibration inputs (engine::gptq).
        let calibration = if is_clip {
            pack::Calibration::Clip { config_json: &config, tokenizer_json: &tokenizer, preprocessor_config_json: &preprocessor }
        } else {
            pack::Calibration::Encoder { config_json: &config, tokenizer_json: &tokenizer }
        };
        let started = std::time::Instant::now();
        let packed = pack::pack_safetensors(&source, precision, calibration).map_err(|e| e.to_string())?;
        let manifest = pack::manifest(&source, &packed, precision, repo, revision);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let write = |file: &str, bytes: &[u8]| std::fs::write(out.join(file), bytes).map_err(|e| format!("{}: {e}", out.join(file).display()));
        for file in SMALL_FILES {
            if dir.join(file).is_file() {
                write(file, &read(&dir, file)?)?;
            }
        }
        // A folder packed before (perhaps in other pieces) keeps none of its old weights.
        for entry in std::fs::read_dir(&out).map_err(|e| format!("{}: {e}", out.display()))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name == "model.safetensors" || name == "model.safetensors.index.json" || (name.starts_with("model-") && name.ends_with(".safetensors")) {
                std::fs::remove_file(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
            }
        }
        let pieces = pack::split_into_pieces(packed.bytes.clone(), max_piece.unwrap_or(u64::MAX)).map_err(|e| e.to_string())?;
        for (name, bytes) in &pieces.files {
            write(name, bytes)?;
        }
        if let Some(index) = &pieces.index_json {
            write("model.safetensors.index.json", index.as_bytes())?;
            println!("weights in {} pieces of at most {} MiB", pieces.files.len(), max_piece.unwrap_or(0) >> 20);
        }
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        write(pack::MANIFEST_FILE, format!("{json}\n").as_bytes())?;
        let mb = |b: u64| b as f64 / 1e6;
        println!(
            "packed {} as {}: model.safetensors {:.1} MB -> {:.1} MB ({:.0} %), {} matrices compact, {} tensors kept, in {:.1} s",
            dir.display(),
            precision.as_str(),
            mb(manifest.source.size),
            mb(manifest.size),
            100.0 * manifest.size as f64 / manifest.source.size.max(1) as f64,
            manifest.compact_tensors,
            manifest.kept_tensors,
            started.elapsed().as_secs_f64()
        );
        // The deviation from the source, on the same inputs through both.
        if is_clip {
            use nlu_lab::engine::pipeline::{ClipClassifier, ClipFiles};
            let load = |weights: &[u8]| {
                let files = ClipFiles { config_json: &config, tokenizer_json: &tokenizer, preprocessor_config_json: &preprocessor, safetensors: weights };
                ClipClassifier::load("clip", &files).map_err(|e| e.to_string())
            };
            let (full, compact) = (load(&source)?, load(&packed.bytes)?);
            let mut inputs = pack::generated_images();
            for image in &images {
                inputs.push(std::fs::read(image).map_err(|e| format!("{}: {e}", image.display()))?);
            }
            let sets = pack::caption_sets();
            let d = pack::clip_deviation(&full, &compact, &inputs, &sets).map_err(|e| e.to_string())?;
            println!(
                "deviation from the source on {} images x {} caption sets ({} captions): probability max|Δ| {:.2e}, logit max|Δ| {:.2e}",
                inputs.len(),
                sets.len(),
                sets.iter().map(Vec::len).sum::<usize>(),
                d.probability,
                d.logit
            );
        } else {
            let load = |weights: &[u8]| {
                let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: weights };
                AttentionModel::load("model", &files).map_err(|e| e.to_string())
            };
            let (full, compact) = (load(&source)?, load(&packed.bytes)?);
            let d = pack::encoder_deviation(&full, &compact, &pack::SENTENCES).map_err(|e| e.to_string())?;
            println!(
                "deviation from the source on {} built-in sentences: attention max|Δ| {:.2e}, Q/K max|Δ| {:.2e}",
                pack::SENTENCES.len(),
                d.attention,
                d.queries_keys
            );
        }
        Ok(())
    }

    fn value(parser: &mut lexopt::Parser) -> Result<String, String> {
        parser.value().map_err(|e| e.to_string())?.into_string().map_err(|_| "argument is not UTF-8".to_string())
    }

    fn attention(mut parser: lexopt::Parser) -> Result<(), String> {
        let (mut model, mut text, mut text_b, mut qk, mut format) = (None::<PathBuf>, None, None, false, "json".to_string());
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Long("text") => text = Some(value(&mut parser)?),
                Long("text-b") => text_b = Some(value(&mut parser)?),
                Long("queries-keys") => qk = true,
                Long("format") => format = value(&mut parser)?,
                Long("help") => {
                    println!("{USAGE}");
                    return Ok(());
                }
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let dir = model.ok_or("--model DIR is required")?;
        let text = text.ok_or("--text is required")?;
        if format != "json" && format != "html" {
            return Err(format!("unknown --format {format} (json, html)"));
        }
        let config = String::from_utf8(read(&dir, "config.json")?).map_err(|_| "config.json is not UTF-8")?;
        let tokenizer = read(&dir, "tokenizer.json")?;
        let weights = read(&dir, "model.safetensors")?;
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights };
        let lab = AttentionModel::load(&name, &files).map_err(|e| e.to_string())?;
        let data = lab.attention(&text, text_b.as_deref(), qk).map_err(|e| e.to_string())?;
        // Streamed to stdout: at 512 tokens the JSON is hundreds of MB, never held whole.
        print_with(|out| {
            if format == "html" {
                nlu_lab::engine::standalone::write_standalone_html(&data, out)
            } else {
                data.write_json(out).and_then(|_| writeln!(out))
            }
        })
    }

    fn print_json(value: &serde_json::Value) -> Result<(), String> {
        print_with(|out| serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from).and_then(|_| writeln!(out)))
    }

    /// Write to a buffered stdout; a closed pipe (`| head`) ends quietly instead of panicking.
    fn print_with(write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock>) -> std::io::Result<()>) -> Result<(), String> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        let written = write(&mut out).and_then(|_| out.flush());
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| e.to_string()),
        }
    }
}
