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
    use std::path::{Path, PathBuf};

    use lexopt::prelude::*;
    use nlu_lab::engine::pipeline::attention_model::{AttentionModel, CheckpointFiles};

    const USAGE: &str = "usage:
  nlu-lab attention --model DIR --text TEXT [--text-b TEXT] [--queries-keys] [--format json|html]
      DIR holds config.json, tokenizer.json and model.safetensors (a BERT, RoBERTa or DistilBERT checkpoint).
      Prints the attention data as JSON (schema nlu-lab/attention@1, see README), or with --format html a
      standalone head view page that needs no network and no model.
  nlu-lab clip --model DIR --image FILE --caption TEXT --caption TEXT ... [--format json]
      DIR holds config.json, tokenizer.json, preprocessor_config.json and model.safetensors of a CLIP checkpoint.
      Prints input ids, logits and probabilities as JSON (schema nlu-lab/clip@1, see README).
  nlu-lab bench
      Times a bert-base-shaped encoder (synthetic weights) at 16/64/128 tokens, attention and Q/K captured.
  nlu-lab synth-clip --fixture DIR --out DIR [--full-depth]
      Writes a CLIP checkpoint with the deterministic synthetic weights of tests/fixtures/clip (see its README):
      DIR's config.json, tokenizer.json, preprocessor_config.json plus a generated model.safetensors;
      --full-depth: ViT-B/32's 12 + 12 layers (about 600 MB), for speed and memory figures.
  nlu-lab synth-bert --tokenizer FILE --out DIR
      Writes the bert-base-shaped checkpoint of `nlu-lab bench` (synthetic weights, about 440 MB) with FILE as its
      tokenizer.json (e.g. MiniLM's, which has bert-base-uncased's vocabulary): for scripts/bench.sh.";

    pub fn run() -> Result<(), String> {
        let mut parser = lexopt::Parser::from_env();
        match parser.next().map_err(|e| e.to_string())? {
            Some(Value(cmd)) if cmd == "attention" => attention(parser),
            Some(Value(cmd)) if cmd == "bench" => bench(),
            Some(Value(cmd)) if cmd == "clip" => clip(parser),
            Some(Value(cmd)) if cmd == "synth-clip" => synth_clip(parser),
            Some(Value(cmd)) if cmd == "synth-bert" => synth_bert(parser),
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

    fn bench() -> Result<(), String> {
        use nlu_lab::engine::bench::{bench_encoder, bert_base_config, format_report};
        let start = std::time::Instant::now();
        let now = move || start.elapsed().as_secs_f64() * 1e3;
        let report = bench_encoder(&bert_base_config(), &[16, 64, 128], 10, &now).map_err(|e| e.to_string())?;
        print!("{}", format_report("native", &report));
        Ok(())
    }

    fn clip(mut parser: lexopt::Parser) -> Result<(), String> {
        use nlu_lab::engine::pipeline::clip_classifier::{ClipClassifier, ClipFiles};
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
            clip::config::Config::from_json(&text).map_err(|e| e.to_string())?
        } else {
            std::fs::copy(fixture.join("config.json"), out.join("config.json")).map_err(|e| e.to_string())?;
            clip::config::Config::from_json(&config).map_err(|e| e.to_string())?
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
        let (mut tokenizer, mut out) = (None::<PathBuf>, None::<PathBuf>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("tokenizer") => tokenizer = Some(value(&mut parser)?.into()),
                Long("out") => out = Some(value(&mut parser)?.into()),
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let (tokenizer, out) = (tokenizer.ok_or("--tokenizer FILE is required")?, out.ok_or("--out DIR is required")?);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        std::fs::copy(&tokenizer, out.join("tokenizer.json")).map_err(|e| format!("{}: {e}", tokenizer.display()))?;
        std::fs::write(out.join("config.json"), bench::BERT_BASE_CONFIG_JSON).map_err(|e| e.to_string())?;
        let bytes = synth::bert_checkpoint(&bench::bert_base_config(), bench::BERT_BASE_SEED).map_err(|e| e.to_string())?;
        let part = out.join("model.safetensors.part");
        std::fs::write(&part, &bytes).map_err(|e| format!("{}: {e}", part.display()))?;
        std::fs::rename(&part, out.join("model.safetensors")).map_err(|e| e.to_string())?;
        println!("synthetic bert-base ({} bytes) in {}", bytes.len(), out.display());
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
        if format == "html" {
            return print_text(&nlu_lab::engine::standalone::standalone_html(&data));
        }
        print_json(&data.to_json())
    }

    fn print_text(text: &str) -> Result<(), String> {
        use std::io::Write;
        match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    /// Print to stdout; a closed pipe (`| head`) ends quietly instead of panicking.
    fn print_json(value: &serde_json::Value) -> Result<(), String> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let written = serde_json::to_writer(&mut out, value).map_err(std::io::Error::from).and_then(|_| writeln!(out));
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other.map_err(|e| e.to_string()),
        }
    }
}
