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
course developers: the benchmark and the synthetic checkpoints are commands of `nlu-lab-dev`, built with the
  `bench` feature: cargo run --features bench --bin nlu-lab-dev -- --help";

    pub fn run() -> Result<(), String> {
        let mut parser = lexopt::Parser::from_env();
        match parser.next().map_err(|e| e.to_string())? {
            Some(Value(cmd)) if cmd == "attention" => attention(parser),
            Some(Value(cmd)) if cmd == "clip" => clip(parser),
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
