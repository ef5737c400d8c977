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
    use nlu_lab::engine::clip_example::ClipExample;
    use nlu_lab::engine::handin::{HandIn, Submission};
    use nlu_lab::engine::pipeline::{AttentionModel, CheckpointFiles, LabModel, LabRequest};

    const USAGE: &str = "usage:
  nlu-lab attention --model DIR --text TEXT [--text-b TEXT] [--queries-keys] [--rollout] [--heads-off L:H,...]
                    [--mask-token I [--predictions K]] [--format json|html]
      DIR holds config.json, tokenizer.json and model.safetensors (a BERT, RoBERTa, DistilBERT or GPT-2 checkpoint).
      Prints the attention data as JSON (schema nlu-lab/attention@1, see README; --rollout adds \"rollout\", the
      attention rollout through every layer as [n][n], Abnar & Zuidema 2020; --heads-off 0:3,2:11 switches those
      heads off as transformers' head_mask does, and says so in \"heads_off\"; --mask-token I replaces token I by the
      mask token and adds \"predictions\", the masked-word head's top K (--predictions K, default 5) with the
      original token's probability, for checkpoints that ship the head). For a GPT-2 checkpoint: causal attention
      (\"causal\": true), one text, and --predictions K adds \"predictions\": {\"next\": the K most probable next
      tokens}. With --format html: a standalone head view page that needs no network and no model. With --format example: the attention lab's
      first-visit example (web/examples/minilm-attention.json: the weights in one byte each, no Q/K).
  nlu-lab clip --model DIR --image FILE --caption TEXT --caption TEXT ... [--format json|example --repo REPO]
      DIR holds config.json, tokenizer.json, preprocessor_config.json and model.safetensors of a CLIP checkpoint.
      Prints input ids, logits and probabilities as JSON (schema nlu-lab/clip@1, see README).
      With --format example --repo REPO: the CLIP lab's first-visit example (schema nlu-lab/clip-example@1:
      REPO's revision, whether DIR's files match its pins, the image's name and sha256, probabilities and logits),
      as scripts/build.sh --clip-example writes it into the site.
  nlu-lab clip --model DIR --image FILE --submission clip-submission.json
      Re-checks a CLIP lab hand-in: the image must be the one handed in (sha256), the captions are the hand-in's.
      Prints the JSON above with a \"check\" object, and on stderr \"agree\" or \"differ\" with the largest
      difference; exits 1 when they differ. Within 1e-4 when DIR holds the hand-in's weights (the same pack, by
      sha256), else within 2e-2; a hand-in's full-precision check, if any, is compared with a full-precision DIR
      within 1e-4 too. Whether the verdict (top probability below 0.6) is the same is said beside it.
  nlu-lab check HANDIN.zip --model DIR
      Re-checks the CLIP lab's hand-in zip (clip-handin.zip: submission.json, the image, card.png): the image must
      be the one the submission names (sha256); its captions go through DIR's model here. Prints \"agree\" or
      \"differ\" with the largest difference (the tolerances of clip --submission) and each caption's probability
      handed in and here; exits 1 when they differ, 2 on any error (not a hand-in, its image not the one
      the submission names, a model folder that cannot be read).
  nlu-lab pack --model DIR --dtype f16|int8 --out DIR [--repo REPO --revision COMMIT] [--image FILE ...]
               [--max-piece-mb MIB]
      Writes a model folder with compact weights (README, \"Compact weights\"): model.safetensors, the config,
      tokenizer and preprocessor files, and nlu-lab-pack.json. Prints the sizes and the packed model's largest
      difference from DIR on built-in inputs (encoders: attention and Q/K; CLIP: probabilities and logits on
      generated images and any --image). --max-piece-mb: weights larger than MIB MiB are written in pieces
      (model-00001-of-0000n.safetensors and model.safetensors.index.json, transformers' sharded layout), as a
      static host needs them (the app and this CLI read either).
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
            Some(Value(cmd)) if cmd == "check" => check(parser),
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
                let family = match e.family {
                    Family::Encoder => "encoder",
                    Family::Decoder => "decoder",
                    Family::Clip => "clip",
                };
                serde_json::json!({ "repo": e.repo, "revision": e.revision, "family": family, "verified": e.is_verified(), "files": files })
            })
            .collect();
        print_json(&serde_json::json!({ "schema": "nlu-lab/catalogue@1", "models": models }))
    }

    fn read(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
        std::fs::read(dir.join(file)).map_err(|e| format!("{}: {e}", dir.join(file).display()))
    }

    /// The folder's weights: `model.safetensors`, or the pieces `model.safetensors.index.json` names, joined.
    fn read_weights(dir: &Path) -> Result<Vec<u8>, String> {
        Ok(read_weight_files(dir, false)?.0)
    }

    /// [`read_weights`], with each weight file's name and sha256 when `digests` (a re-check compares them with the
    /// pack a hand-in names).
    fn read_weight_files(dir: &Path, digests: bool) -> Result<(Vec<u8>, Vec<(String, String)>), String> {
        use nlu_lab::engine::catalogue::sha256_hex;
        const INDEX: &str = "model.safetensors.index.json";
        if dir.join("model.safetensors").is_file() || !dir.join(INDEX).is_file() {
            let bytes = read(dir, "model.safetensors")?;
            let files = if digests { vec![("model.safetensors".to_string(), sha256_hex(&bytes))] } else { vec![] };
            return Ok((bytes, files));
        }
        let index = String::from_utf8(read(dir, INDEX)?).map_err(|_| format!("{INDEX} is not UTF-8"))?;
        let parsed: serde_json::Value = serde_json::from_str(&index).map_err(|e| format!("{INDEX}: {e}"))?;
        let mut names: Vec<String> =
            parsed["weight_map"].as_object().map(|m| m.values().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
        names.sort();
        names.dedup();
        let (mut pieces, mut files) = (Vec::new(), Vec::new());
        for name in names {
            // Names from the file: only a plain file name inside DIR.
            if name.contains('/') || name.contains('\\') || name.starts_with('.') {
                return Err(format!("{INDEX} names {name:?}, not a file in the folder"));
            }
            let bytes = read(dir, &name)?;
            if digests {
                files.push((name.clone(), sha256_hex(&bytes)));
            }
            pieces.push((name, bytes));
        }
        Ok((nlu_lab::engine::pack::join_pieces(&index, &pieces).map_err(|e| e.to_string())?, files))
    }

    /// The precision a model folder computes with: its nlu-lab-pack.json's, or f32 for a plain checkpoint.
    fn folder_precision(dir: &Path) -> Result<String, String> {
        use nlu_lab::engine::pack::{PackManifest, MANIFEST_FILE};
        if !dir.join(MANIFEST_FILE).is_file() {
            return Ok("f32".into());
        }
        let json = String::from_utf8(read(dir, MANIFEST_FILE)?).map_err(|_| format!("{MANIFEST_FILE} is not UTF-8"))?;
        let manifest = PackManifest::from_json(&json).map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
        Ok(manifest.dtype.as_str().to_string())
    }

    fn read_submission(path: &Path) -> Result<Submission, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Submission::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A CLIP model folder's classifier, with its weight files' names and sha256 when `digests`.
    fn load_clip(dir: &Path, digests: bool) -> Result<(nlu_lab::engine::pipeline::ClipClassifier, Vec<(String, String)>), String> {
        use nlu_lab::engine::pipeline::{ClipClassifier, ClipFiles};
        let text = |file: &str| -> Result<String, String> {
            String::from_utf8(read(dir, file)?).map_err(|_| format!("{file} is not UTF-8"))
        };
        let (config, preprocessor) = (text("config.json")?, text("preprocessor_config.json")?);
        let tokenizer = read(dir, "tokenizer.json")?;
        let (weights, weight_files) = read_weight_files(dir, digests)?;
        let files = ClipFiles { config_json: &config, tokenizer_json: &tokenizer, preprocessor_config_json: &preprocessor, safetensors: &weights };
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        Ok((ClipClassifier::load(&name, &files).map_err(|e| e.to_string())?, weight_files))
    }

    /// `nlu-lab check HANDIN.zip --model DIR`: the hand-in's image and captions through DIR's model, here.
    fn check(mut parser: lexopt::Parser) -> Result<(), String> {
        let (mut model, mut handin) = (None::<PathBuf>, None::<PathBuf>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Value(path) if handin.is_none() => handin = Some(path.into()),
                other => return Err(format!("{}\n{USAGE}", other.unexpected())),
            }
        }
        let path = handin.ok_or("which hand-in? nlu-lab check HANDIN.zip --model DIR")?;
        let dir = model.ok_or("--model DIR is required")?;
        let shown = path.display();
        // Before the model loads: a file that is not a hand-in, or whose image is not the one its JSON names.
        let bytes = std::fs::read(&path).map_err(|e| format!("{shown}: {e}"))?;
        let handin = HandIn::from_zip(&bytes).map_err(|e| format!("{shown}: {e}"))?;
        let s = Submission::parse(&handin.submission_json).map_err(|e| format!("{shown}: {}: {e}", nlu_lab::engine::handin::SUBMISSION_FILE))?;
        s.check_image(&handin.image, &handin.image_file).map_err(|e| format!("{shown}: {e}"))?;
        let (classifier, weight_files) = load_clip(&dir, true)?;
        let r = classifier.classify(&handin.image, &s.captions).map_err(|e| e.to_string())?;
        let (_, verdict) = recheck(&s, &r, &folder_precision(&dir)?, &weight_files);
        println!("{verdict}");
        for (caption, (theirs, ours)) in s.captions.iter().zip(s.probabilities.iter().zip(&r.probs)) {
            println!("  {theirs:.6} handed in, {ours:.6} here  {caption}");
        }
        if verdict.starts_with("differ") {
            std::process::exit(1);
        }
        Ok(())
    }

    fn clip(mut parser: lexopt::Parser) -> Result<(), String> {
        let (mut model, mut image, mut captions, mut format) = (None::<PathBuf>, None::<PathBuf>, Vec::new(), "json".to_string());
        let (mut submission_path, mut repo) = (None::<PathBuf>, None::<String>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Long("image") => image = Some(value(&mut parser)?.into()),
                Long("caption") => captions.push(value(&mut parser)?),
                Long("submission") => submission_path = Some(value(&mut parser)?.into()),
                Long("repo") => repo = Some(value(&mut parser)?),
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
        match (format.as_str(), &repo) {
            ("json", None) => {}
            ("json", Some(_)) => return Err("--repo goes with --format example".into()),
            ("example", Some(_)) if submission_path.is_none() => {}
            ("example", _) => return Err("--format example takes --repo REPO (the catalogue model in DIR) and no --submission".into()),
            _ => return Err(format!("unknown --format {format} (json, example)")),
        }
        let submission = submission_path.as_deref().map(read_submission).transpose()?;
        let mut image_bytes = None;
        if let Some(s) = &submission {
            if !captions.is_empty() {
                return Err("--submission brings its own captions: give no --caption".into());
            }
            captions = s.captions.clone();
            // Before the model loads: another image than the one handed in is refused at once.
            let bytes = std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?;
            s.check_image(&bytes, &image.display().to_string())?;
            image_bytes = Some(bytes);
        }
        let (classifier, weight_files) = load_clip(&dir, submission.is_some())?;
        let image_bytes = match image_bytes {
            Some(bytes) => bytes,
            None => std::fs::read(&image).map_err(|e| format!("{}: {e}", image.display()))?,
        };
        let r = classifier.classify(&image_bytes, &captions).map_err(|e| e.to_string())?;
        if let Some(repo) = &repo {
            let name = image.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let example = ClipExample::new(&r, repo, matches_pins(&dir, repo)?, &name, &image_bytes)?;
            return print_with(|out| writeln!(out, "{}", example.to_json()));
        }
        let check = match &submission {
            Some(s) => {
                let (json, verdict) = recheck(s, &r, &folder_precision(&dir)?, &weight_files);
                eprintln!("{verdict}");
                Some(json)
            }
            None => None,
        };
        let agree = check.as_ref().map(|c| c["agree"] == true);
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
            "check": check,
        }))?;
        if agree == Some(false) {
            std::process::exit(1);
        }
        Ok(())
    }

    /// Whether DIR holds every file of `repo`'s catalogue entry, each of its pinned size and sha256.
    fn matches_pins(dir: &Path, repo: &str) -> Result<bool, String> {
        let entry = nlu_lab::engine::catalogue::find(repo).ok_or(format!("--repo {repo}: not a catalogue model"))?;
        Ok(entry.files.iter().all(|f| {
            let bytes = std::fs::read(dir.join(f.name)).unwrap_or_default();
            f.size.is_none_or(|size| size == bytes.len() as u64)
                && f.sha256.is_some_and(|pin| pin == nlu_lab::engine::catalogue::sha256_hex(&bytes))
        }))
    }

    /// `r` (computed here with a model folder of `precision` whose weight files are `weight_files`, name and sha256)
    /// against the hand-in `s` (its image was checked before the model loaded). The hand-in's probabilities are
    /// compared within 1e-4 when these are the same weights (the app's wasm and this CLI differ only in summation
    /// order), else within 2e-2 (another precision, or a pack whose bytes the hand-in does not name); a full-precision
    /// check in the hand-in is compared too when the folder is full precision. With the outcome in one line.
    fn recheck(
        s: &Submission,
        r: &nlu_lab::engine::pipeline::ClipResult,
        precision: &str,
        weight_files: &[(String, String)],
    ) -> (serde_json::Value, String) {
        use nlu_lab::engine::caption_pairs::{is_confusing, top_probability};
        use nlu_lab::engine::pack::max_abs_diff;
        let named = !s.weights.is_empty() && s.weights.iter().all(|(_, sha)| !sha.is_empty());
        // A full-precision hand-in from before the app named its weights is taken to be the catalogue's.
        let same_weights = precision == s.precision && if named { s.weights == weight_files } else { precision == "f32" };
        // (what, the hand-in's probabilities, tolerance); the full-precision check first, when it applies.
        let mut comparisons: Vec<(String, &[f32], f32)> = Vec::new();
        if let (Some(full), "f32") = (&s.full_precision, precision) {
            comparisons.push(("the hand-in's full-precision check".into(), full, 1e-4));
        }
        let tolerance = if same_weights { 1e-4 } else { 2e-2 };
        comparisons.push((format!("the hand-in's {} probabilities", s.precision), &s.probabilities, tolerance));
        let (top, theirs) = (top_probability(&r.probs), top_probability(comparisons[0].1));
        let results: Vec<(String, f32, f32)> =
            comparisons.into_iter().map(|(what, theirs, tol)| (what, max_abs_diff(&r.probs, theirs), tol)).collect();
        let agree = results.iter().all(|(_, largest, tol)| largest <= tol);
        let same_verdict = is_confusing(top) == is_confusing(theirs);
        let said: Vec<String> = results
            .iter()
            .map(|(what, largest, tol)| format!("{precision} probabilities here vs {what}: largest difference {largest:.2e} (tolerance {tol:.0e})"))
            .collect();
        let weights = if same_weights {
            "the same weights"
        } else if precision == s.precision {
            "other weights (their sha256 is not the hand-in's)"
        } else {
            "another precision"
        };
        let verdict = format!(
            "{}: {}; {weights}; top {top:.4} vs {theirs:.4}, verdict {}",
            if agree { "agree" } else { "differ" },
            said.join("; "),
            if same_verdict { "the same" } else { "differs" },
        );
        let json = serde_json::json!({
            "agree": agree,
            "image_sha256": s.image_sha256,
            "submission_precision": s.precision,
            "model_precision": precision,
            "same_weights": same_weights,
            "comparisons": results.iter().map(|(what, largest, tol)| serde_json::json!({
                "with": what, "max_probability_difference": largest, "tolerance": tol, "within": largest <= tol,
            })).collect::<Vec<_>>(),
            "max_logit_difference": if same_weights { serde_json::json!(max_abs_diff(&r.logits, &s.logits)) } else { serde_json::Value::Null },
            "same_verdict": same_verdict,
        });
        (json, verdict)
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
        let source = read_weights(&dir)?;
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
        let (mut rollout, mut heads_off) = (false, nlu_lab::engine::heads_off::HeadsOff::default());
        let (mut mask, mut k) = (None::<usize>, None::<usize>);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("model") => model = Some(value(&mut parser)?.into()),
                Long("text") => text = Some(value(&mut parser)?),
                Long("text-b") => text_b = Some(value(&mut parser)?),
                Long("queries-keys") => qk = true,
                Long("rollout") => rollout = true,
                Long("mask-token") => mask = Some(value(&mut parser)?.parse().map_err(|_| "--mask-token takes a token index")?),
                Long("predictions") => k = Some(value(&mut parser)?.parse().ok().filter(|&k| k > 0).ok_or("--predictions takes a count")?),
                Long("heads-off") => heads_off = nlu_lab::engine::heads_off::HeadsOff::parse(&value(&mut parser)?).map_err(|e| format!("--heads-off: {e}"))?,
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
        if !["json", "html", "example"].contains(&format.as_str()) {
            return Err(format!("unknown --format {format} (json, html, example)"));
        }
        let config = String::from_utf8(read(&dir, "config.json")?).map_err(|_| "config.json is not UTF-8")?;
        let tokenizer = read(&dir, "tokenizer.json")?;
        let weights = read_weights(&dir)?;
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let files = CheckpointFiles { config_json: &config, tokenizer_json: &tokenizer, safetensors: &weights };
        let lab = LabModel::load(&name, &files).map_err(|e| e.to_string())?;
        let request = LabRequest { text: &text, text_b: text_b.as_deref(), queries_keys: qk, heads_off: &heads_off, mask, predictions: k.unwrap_or(5) };
        let run = lab.run(&request).map_err(|e| e.to_string())?;
        // A masked token's guesses; a decoder's next tokens when --predictions asks for them.
        let predictions = match (&run.masked, matches!(lab, LabModel::Decoder(_)) && k.is_some()) {
            (Some(p), _) => Some(serde_json::to_value(p).map_err(|e| e.to_string())?),
            (None, true) => Some(serde_json::json!({ "next": run.next })),
            (None, false) => None,
        };
        let data = run.data;
        // Streamed to stdout: at 512 tokens the JSON is hundreds of MB, never held whole.
        print_with(|out| {
            if format == "html" {
                nlu_lab::engine::standalone::write_standalone_html(&data, out)
            } else if format == "example" {
                writeln!(out, "{}", nlu_lab::engine::attention::encode_example(&data))
            } else if rollout || predictions.is_some() {
                data.write_json_with(out, rollout, predictions.as_ref()).and_then(|_| writeln!(out))
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
