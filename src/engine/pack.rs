//! `nlu-lab pack`: a checkpoint's `model.safetensors` rewritten with compact matrices (see [`super::compact`] for
//! the tensor layout), the `nlu-lab-pack.json` that says what was done, and the deviation of the packed model
//! from its source on built-in inputs.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::compact::{CompactMatrix, MatrixValues, Precision};
use super::pipeline::{AttentionModel, ClipClassifier};
use super::{Error, Result};

/// The file beside a packed `model.safetensors`.
pub const MANIFEST_FILE: &str = "nlu-lab-pack.json";

/// What `nlu-lab-pack.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PackManifest {
    /// Always "nlu-lab-pack".
    pub format: String,
    pub version: u32,
    /// "f16" or "int8".
    pub dtype: Precision,
    pub source: PackSource,
    /// How the matrices were made, in words (so a reader needs no code).
    pub quantisation: String,
    /// Tensors stored compact, and kept in f32 (or their own integer dtype).
    pub compact_tensors: usize,
    pub kept_tensors: usize,
    /// Bytes of the packed `model.safetensors`.
    pub size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PackSource {
    /// The Hub repository and commit the source came from, when known.
    pub repo: Option<String>,
    pub revision: Option<String>,
    /// The source `model.safetensors`' sha256 and size.
    pub sha256: String,
    pub size: u64,
}

impl PackManifest {
    pub fn from_json(json: &str) -> Result<Self> {
        let manifest: Self = serde_json::from_str(json).map_err(|e| Error::Invalid(format!("{MANIFEST_FILE}: {e}")))?;
        if manifest.format != "nlu-lab-pack" || manifest.version != 1 {
            return Err(Error::Invalid(format!("{MANIFEST_FILE}: not an nlu-lab pack of version 1")));
        }
        Ok(manifest)
    }
}

pub use super::catalogue::sha256_hex;

/// Whether tensor `name` of `shape` is a matrix to store compact, and as which `[rows, cols]`: the weights of
/// linear layers and the token embeddings (2-D `*.weight`), and CLIP's patch convolution (flattened). Layer
/// norms, position and token-type embeddings stay f32.
pub fn compact_shape(name: &str, shape: &[usize]) -> Option<(usize, usize)> {
    let stem = name.strip_suffix(".weight")?;
    let last = stem.rsplit('.').next().unwrap_or(stem).to_ascii_lowercase();
    if last.contains("norm") || last.contains("position") || last.contains("token_type") {
        return None;
    }
    match *shape {
        [rows, cols] => Some((rows, cols)),
        [out, channels, kh, kw] if last == "patch_embedding" => Some((out, channels * kh * kw)),
        _ => None,
    }
}

fn to_f32(view: &TensorView) -> Result<Vec<f32>> {
    let data = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(Error::Weights(format!("cannot pack a {other:?} matrix"))),
    })
}

/// What [`pack_safetensors`] wrote.
pub struct Packed {
    pub bytes: Vec<u8>,
    pub compact_tensors: usize,
    pub kept_tensors: usize,
}

/// The files besides the weights that int8 packing runs the model with, to choose its int8 values by GPTQ
/// (see [`super::gptq`] and [`calibration_texts`]).
#[derive(Clone, Copy)]
pub enum Calibration<'a> {
    /// None: each weight rounded to its nearest step (synthetic checkpoints without a tokenizer; f16 needs none).
    Nearest,
    /// A BERT-family encoder.
    Encoder { config_json: &'a str, tokenizer_json: &'a [u8] },
    Clip { config_json: &'a str, tokenizer_json: &'a [u8], preprocessor_config_json: &'a str },
}

/// `source` (a `model.safetensors`) with every matrix [`compact_shape`] picks in `precision`; float tensors that
/// stay are written as f32, others as they are. In int8, the linear layers the model runs on `calibration`'s
/// inputs get GPTQ's values (natively; the token embeddings, which are looked up rather than multiplied, and
/// matrices the model does not use round to nearest).
pub fn pack_safetensors(source: &[u8], precision: Precision, calibration: Calibration) -> Result<Packed> {
    if precision == Precision::F32 {
        return Err(Error::Invalid("pack to f16 or int8 (f32 is the source itself)".into()));
    }
    let file = SafeTensors::deserialize(source).map_err(|e| Error::Weights(format!("model.safetensors: {e}")))?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    #[cfg(not(target_arch = "wasm32"))]
    let grams = match (precision, calibration) {
        (Precision::Int8, Calibration::Encoder { .. } | Calibration::Clip { .. }) => {
            let compact: Vec<(String, usize)> = names
                .iter()
                .filter_map(|name| {
                    let view = file.tensor(name).ok()?;
                    compact_shape(name, view.shape()).map(|(_, cols)| (name.clone(), cols))
                })
                .collect();
            calibrate(source, calibration, &compact)?
        }
        _ => HashMap::new(),
    };
    #[cfg(target_arch = "wasm32")]
    if precision == Precision::Int8 && !matches!(calibration, Calibration::Nearest) {
        return Err(Error::Invalid("int8 packing with calibration runs natively only".into()));
    }
    // (name, dtype, shape, bytes), in name order.
    let mut out: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let (mut compact, mut kept) = (0, 0);
    for name in names {
        let view = file.tensor(&name).map_err(|e| Error::Weights(format!("{name}: {e}")))?;
        let shape = view.shape().to_vec();
        let float = matches!(view.dtype(), Dtype::F32 | Dtype::F16 | Dtype::BF16);
        match compact_shape(&name, &shape).filter(|_| float) {
            Some((rows, cols)) => {
                let weights = to_f32(&view)?;
                #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
                let mut matrix = CompactMatrix::from_f32(weights.clone(), rows, cols, precision)
                    .map_err(|e| Error::Weights(format!("{name}: {e}")))?;
                #[cfg(not(target_arch = "wasm32"))]
                if let (Some(gram), MatrixValues::Int8 { values, scales }) = (grams.get(&name), &mut matrix.values) {
                    *values = super::gptq::quantize(&weights, rows, cols, scales, &gram.xtx)
                        .map_err(|e| Error::Weights(format!("{name}: GPTQ: {e}")))?;
                }
                let stem = name.strip_suffix(".weight").expect("compact_shape checked");
                match matrix.values {
                    MatrixValues::F16(bits) => {
                        let bytes = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
                        out.push((format!("{stem}.weight_f16"), Dtype::F16, vec![rows, cols], bytes));
                    }
                    MatrixValues::Int8 { values, scales } => {
                        out.push((format!("{stem}.weight_int8"), Dtype::I8, vec![rows, cols], bytemuck::cast_vec(values)));
                        let bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                        out.push((format!("{stem}.weight_scale"), Dtype::F32, vec![rows], bytes));
                    }
                    MatrixValues::F32(_) => unreachable!("precision is not f32"),
                }
                compact += 1;
            }
            None if float => {
                let bytes = to_f32(&view)?.iter().flat_map(|x| x.to_le_bytes()).collect();
                out.push((name, Dtype::F32, shape, bytes));
                kept += 1;
            }
            None => {
                out.push((name, view.dtype(), shape, view.data().to_vec()));
                kept += 1;
            }
        }
    }
    let views: Vec<(String, TensorView)> = out
        .iter()
        .map(|(name, dtype, shape, bytes)| Ok((name.clone(), TensorView::new(*dtype, shape.clone(), bytes)?)))
        .collect::<std::result::Result<_, safetensors::SafeTensorError>>()
        .map_err(|e| Error::Weights(e.to_string()))?;
    let metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        ("nlu-lab-pack".to_string(), precision.as_str().to_string()),
    ]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Weights(e.to_string()))?;
    Ok(Packed { bytes, compact_tensors: compact, kept_tensors: kept })
}

/// Calibration text for int8 packing: English sentences, question–answer pairs and a few paragraphs written for
/// this packer (not taken from a corpus), deliberately none of the packer's measurement inputs ([`SENTENCES`]) nor
/// the tests' golden cases, with what those have too: short and long inputs, pairs, accents, other scripts, markup
/// and numbers. About 1 900 WordPiece tokens with MiniLM's tokenizer.
pub const CALIBRATION_TEXTS: [(&str, Option<&str>); 40] = [
    ("A small boat drifted slowly across the quiet lake at dawn.", None),
    ("My grandmother keeps her old letters in a wooden box under the bed.", None),
    ("The train to the coast was delayed by almost an hour this morning.", None),
    ("Please remember to water the tomatoes while I am away next week.", None),
    ("He laughed so hard at the joke that he nearly dropped his coffee.", None),
    ("The museum opens at nine, but the queue usually starts forming much earlier.", None),
    ("Scientists measured the temperature of the glacier every day for three years.", None),
    ("She plays the violin in a string quartet that meets every Thursday evening.", None),
    ("Our neighbour's dog barks whenever the postman walks past the gate.", None),
    ("The recipe calls for two cups of flour, one egg and a pinch of salt.", None),
    ("Heavy rain flooded several streets in the old town overnight.", None),
    ("Can you recommend a good book about the history of mathematics?", None),
    ("The committee postponed its decision until the budget figures were available.", None),
    ("Children were building sandcastles while their parents read on the beach.", None),
    ("After the concert, the audience stood and applauded for several minutes.", None),
    ("Wind turbines on the hill turned steadily in the afternoon breeze.", None),
    ("I lost my keys again, so I had to wait outside until my sister came home.", None),
    ("The software update fixed a bug that caused the application to crash on startup.", None),
    ("In 2019 the company reported revenue of 4.2 billion dollars, up 12% from 2018.", None),
    ("The patient was advised to rest, drink plenty of fluids and avoid strenuous exercise.", None),
    ("We ordered crème brûlée and a café au lait at the little bistro near the Seine.", None),
    ("Jürgen and Zoë met in Malmö before travelling on to São Paulo.", None),
    ("Здравствуйте, как дела? Сегодня очень холодно.", None),
    ("東京は日本の首都です。私は毎朝コーヒーを飲みます。", None),
    ("Use <b>bold</b> for emphasis and <a href=\"/help\">this link</a> for help.", None),
    ("Run `cargo build --release` and then open http://localhost:8080/index.html?page=2.", None),
    ("Error 404: the page you requested (id=7731) could not be found!", None),
    ("What time does the library close on Sundays?", Some("It closes at five in the afternoon, an hour earlier than on weekdays.")),
    ("Is it going to rain tomorrow?", Some("The forecast says there is a seventy percent chance of showers after lunch.")),
    ("Who painted the ceiling of the Sistine Chapel?", Some("Michelangelo painted it between 1508 and 1512.")),
    ("How do plants make their food?", Some("They use sunlight, water and carbon dioxide to produce sugar through photosynthesis.")),
    ("A man is playing a guitar on the street.", Some("Someone is performing music outdoors.")),
    ("Two women are cooking dinner together.", Some("Nobody is in the kitchen.")),
    ("The stock market fell sharply on Monday.", Some("Shares dropped at the start of the week.")),
    ("Why is the sky blue?", Some("Sunlight is scattered by the air, and blue light is scattered more than red light.")),
    ("The bridge was designed to withstand strong earthquakes, and engineers tested scale models in a laboratory for \
        months before construction began. Each cable was inspected by hand, and sensors along the deck still report \
        vibrations to a control room on the shore. When a storm passed through last winter, the readings stayed well \
        within the expected range, which reassured the city council and the people who cross it every day.", None),
    ("Early maps were often drawn from the stories of travellers, so distant coasts appeared stretched, shrunk or \
        entirely invented. As ships carried better instruments, cartographers corrected their charts, and by the \
        eighteenth century the outlines of most continents looked familiar. Yet the interiors remained blank for \
        decades, and many explorers set out precisely because nobody could tell them what lay beyond the next \
        mountain range.", None),
    ("A compiler translates source code into machine instructions in several stages. It first splits the text into \
        tokens, then builds a syntax tree, checks types, and finally optimises and emits code for the target \
        processor. Modern compilers also report helpful error messages, suggest fixes, and can produce code for \
        many architectures from the same intermediate representation.", None),
    ("Volunteers planted four hundred trees along the river last spring.", Some("Most of them survived the dry summer \
        thanks to a rota of neighbours who carried water from the old well.")),
    ("The orchestra tuned their instruments while the conductor studied the score.", None),
];

/// Captions and images CLIP is calibrated on for int8 packing: captions written for this packer (none of
/// [`caption_sets`]), and images made here, unlike [`generated_images`] (stripes, rings, gradients, blobs and
/// smoothed noise in several colours and sizes: no file needed, but not photos, see the README).
pub fn calibration_captions() -> Vec<String> {
    [
        "a photo of a red car parked on a street",
        "a black and white photo of an old building",
        "a close-up of a flower with yellow petals",
        "a group of people standing on a beach",
        "a bowl of fruit on a wooden table",
        "a drawing of a house with a garden",
        "a cat sleeping on a sofa",
        "a dog running through tall grass",
        "a mountain covered in snow under a blue sky",
        "a city skyline at night",
        "a plate of pasta with tomato sauce",
        "a child riding a bicycle",
        "a pattern of coloured stripes",
        "concentric rings in bright colours",
        "a blurry picture of something green",
        "a screenshot of a web page",
        "a bird sitting on a branch",
        "an aerial view of farmland",
        "a cup of tea next to a book",
        "a painting of a storm at sea",
        "a pile of autumn leaves",
        "a person holding an umbrella in the rain",
        "a map of a small island",
        "a neon sign in a dark alley",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// See [`calibration_captions`]: 24 PNGs of 256 × 256.
pub fn calibration_images() -> Vec<Vec<u8>> {
    let side = 256u32;
    let mut seed = 0x68e3_1da4u32;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut images = Vec::new();
    for k in 0..24u32 {
        let colour = |i: u32| -> [f32; 3] {
            let h = (i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32;
            [0.5 + 0.5 * (6.283 * h).cos(), 0.5 + 0.5 * (6.283 * (h + 0.33)).cos(), 0.5 + 0.5 * (6.283 * (h + 0.67)).cos()]
        };
        let (a, b) = (colour(random()), colour(random()));
        let period = 8.0 + (random() % 56) as f32;
        let (cx, cy) = ((random() % side) as f32, (random() % side) as f32);
        // Smoothed noise: a coarse random grid, bilinearly interpolated.
        let grid: Vec<f32> = (0..17 * 17).map(|_| (random() % 1000) as f32 / 1000.0).collect();
        let smooth = |x: f32, y: f32| {
            let (gx, gy) = (x / 16.0, y / 16.0);
            let (ix, iy) = ((gx as usize).min(15), (gy as usize).min(15));
            let (fx, fy) = (gx - ix as f32, gy - iy as f32);
            let g = |i: usize, j: usize| grid[j * 17 + i];
            (g(ix, iy) * (1.0 - fx) + g(ix + 1, iy) * fx) * (1.0 - fy) + (g(ix, iy + 1) * (1.0 - fx) + g(ix + 1, iy + 1) * fx) * fy
        };
        let img = image::RgbImage::from_fn(side, side, |x, y| {
            let (x, y) = (x as f32, y as f32);
            let t = match k % 6 {
                0 => ((x + 0.5 * y) / period).sin() * 0.5 + 0.5,
                1 => (((x - cx).hypot(y - cy)) / period).sin() * 0.5 + 0.5,
                2 => (x / side as f32) * 0.7 + (y / side as f32) * 0.3,
                3 => if (x - cx).hypot(y - cy) < 20.0 + period * 1.5 { 1.0 } else { 0.15 * smooth(x, y) },
                4 => smooth(x, y),
                _ => if ((x / period) as u32 + (y / period) as u32) % 2 == 0 { smooth(x, y) } else { 1.0 - smooth(x, y) },
            };
            image::Rgb(std::array::from_fn(|c| ((a[c] * t + b[c] * (1.0 - t)) * 255.0).clamp(0.0, 255.0) as u8))
        });
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("PNG into memory");
        images.push(png);
    }
    images
}

/// Gram matrices of at most this many bytes are held at once: a large model is calibrated in several passes,
/// each recording a group of layers (CLIP ViT-B/32's hold 0.9 GB in all).
#[cfg(not(target_arch = "wasm32"))]
const GRAM_BYTES_PER_PASS: usize = 320 << 20;

/// The calibration inputs' Gram matrices for the layers of `compact` (weight name, inputs) the model runs.
#[cfg(not(target_arch = "wasm32"))]
fn calibrate(
    source: &[u8],
    calibration: Calibration,
    compact: &[(String, usize)],
) -> Result<HashMap<String, super::calibration::Gram>> {
    use super::pipeline::{CheckpointFiles, ClipFiles};
    enum Model {
        Encoder(AttentionModel),
        Clip(ClipClassifier, Vec<super::image_prep::PreparedImage>, Vec<String>),
    }
    let model = match calibration {
        Calibration::Nearest => return Ok(HashMap::new()),
        Calibration::Encoder { config_json, tokenizer_json } => {
            Model::Encoder(AttentionModel::load("calibration", &CheckpointFiles { config_json, tokenizer_json, safetensors: source })?)
        }
        Calibration::Clip { config_json, tokenizer_json, preprocessor_config_json } => {
            let files = ClipFiles { config_json, tokenizer_json, preprocessor_config_json, safetensors: source };
            let clip = ClipClassifier::load("calibration", &files)?;
            let images = calibration_images().iter().map(|png| super::image_prep::prepare(png, &clip.preprocess)).collect::<Result<_>>()?;
            Model::Clip(clip, images, calibration_captions())
        }
    };
    let run = || -> Result<()> {
        match &model {
            Model::Encoder(m) => {
                for &(text, text_b) in &CALIBRATION_TEXTS {
                    m.attention(text, text_b, false)?;
                }
            }
            // Each image with its share of the captions: every caption through the text tower once.
            Model::Clip(m, images, captions) => {
                let per = captions.len().div_ceil(images.len());
                for (i, image) in images.iter().enumerate() {
                    let share = &captions[(i * per).min(captions.len())..((i + 1) * per).min(captions.len())];
                    m.classify_prepared(image, if share.is_empty() { &captions[..1] } else { share })?;
                }
            }
        }
        Ok(())
    };
    let mut grams = HashMap::new();
    let mut group: Vec<String> = Vec::new();
    let mut bytes = 0;
    for (i, (name, cols)) in compact.iter().enumerate() {
        group.push(name.clone());
        bytes += cols * cols * 4;
        let next = compact.get(i + 1).map_or(0, |(_, c)| c * c * 4);
        if i + 1 == compact.len() || bytes + next > GRAM_BYTES_PER_PASS {
            grams.extend(super::calibration::capture(Some(std::mem::take(&mut group)), &run)?);
            bytes = 0;
        }
    }
    Ok(grams)
}

/// A static host's limit for one file (GitHub Pages warns above 50 MiB and refuses 100 MiB): the bundled site
/// serves larger weights in pieces of at most this size.
pub const MAX_PIECE_BYTES: u64 = 50 << 20;

/// The weights as a model folder holds them: `model.safetensors`, or pieces in transformers' sharded layout.
pub struct Pieces {
    /// (file name, bytes), in order.
    pub files: Vec<(String, Vec<u8>)>,
    /// `model.safetensors.index.json` (transformers' `weight_map`), when there is more than one piece.
    pub index_json: Option<String>,
}

/// `bytes` (a `model.safetensors`) as it is when it fits in `max_bytes`, else split between tensors (in name
/// order) into `model-0000i-of-0000n.safetensors` files of at most `max_bytes` each, with the source's metadata.
pub fn split_into_pieces(bytes: Vec<u8>, max_bytes: u64) -> Result<Pieces> {
    if bytes.len() as u64 <= max_bytes {
        return Ok(Pieces { files: vec![("model.safetensors".into(), bytes)], index_json: None });
    }
    let weights = |e: safetensors::SafeTensorError| Error::Weights(format!("model.safetensors: {e}"));
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(weights)?;
    let metadata = header.metadata().clone();
    let file = SafeTensors::deserialize(&bytes).map_err(weights)?;
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    // Greedy, in name order; each tensor's header entry is counted generously (name, dtype, shape, offsets).
    let entry = |name: &str| name.len() as u64 + 160;
    let mut groups: Vec<Vec<String>> = vec![vec![]];
    let mut used = 1024;
    for name in names {
        let data = file.tensor(&name).map_err(weights)?.data().len() as u64;
        if data + entry(&name) + 1024 > max_bytes {
            return Err(Error::Invalid(format!(
                "{name} alone is {:.1} MB, more than a piece of {:.1} MB may hold",
                data as f64 / 1e6,
                max_bytes as f64 / 1e6
            )));
        }
        if used + data + entry(&name) > max_bytes {
            groups.push(vec![]);
            used = 1024;
        }
        used += data + entry(&name);
        groups.last_mut().expect("one group").push(name);
    }
    let n = groups.len();
    let (mut files, mut weight_map, mut total) = (Vec::new(), serde_json::Map::new(), 0u64);
    for (i, group) in groups.iter().enumerate() {
        let name = format!("model-{:05}-of-{n:05}.safetensors", i + 1);
        let views: Vec<(String, TensorView)> =
            group.iter().map(|t| Ok((t.clone(), file.tensor(t)?))).collect::<std::result::Result<_, _>>().map_err(weights)?;
        total += views.iter().map(|(_, v)| v.data().len() as u64).sum::<u64>();
        for t in group {
            weight_map.insert(t.clone(), serde_json::Value::String(name.clone()));
        }
        let piece = safetensors::serialize(views, metadata.clone()).map_err(weights)?;
        if piece.len() as u64 > max_bytes {
            return Err(Error::Invalid(format!("{name} came out at {} bytes, over the {max_bytes} a piece may hold", piece.len())));
        }
        files.push((name, piece));
    }
    let index = serde_json::json!({ "metadata": { "total_size": total }, "weight_map": weight_map });
    Ok(Pieces { files, index_json: Some(format!("{}\n", serde_json::to_string_pretty(&index).expect("JSON"))) })
}

/// Pieces written by [`split_into_pieces`] (or transformers' `save_pretrained`) joined back into one
/// `model.safetensors`, for readers that take a single file (the CLI). `index_json` is
/// `model.safetensors.index.json`; `pieces` the files it names, as (file name, bytes). Every tensor the index names
/// must be in the piece it names, once.
pub fn join_pieces(index_json: &str, pieces: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let index: serde_json::Value =
        serde_json::from_str(index_json).map_err(|e| Error::Invalid(format!("model.safetensors.index.json: {e}")))?;
    let map = index["weight_map"].as_object().ok_or(Error::Invalid("model.safetensors.index.json has no weight_map".into()))?;
    let mut files = Vec::new();
    for (name, bytes) in pieces {
        let weights = |e: safetensors::SafeTensorError| Error::Weights(format!("{name}: {e}"));
        files.push((name.as_str(), SafeTensors::deserialize(bytes).map_err(weights)?, SafeTensors::read_metadata(bytes).map_err(weights)?.1));
    }
    let mut views: Vec<(String, TensorView)> = Vec::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or(Error::Invalid(format!("the index names no file for {tensor}")))?;
        let (_, piece, _) = files.iter().find(|(n, _, _)| *n == file).ok_or(Error::Invalid(format!("{file} (holding {tensor}) is missing")))?;
        views.push((tensor.clone(), piece.tensor(tensor).map_err(|e| Error::Weights(format!("{file}: {tensor}: {e}")))?));
    }
    let held: usize = files.iter().map(|(_, f, _)| f.len()).sum();
    if held != views.len() {
        return Err(Error::Invalid(format!("the pieces hold {held} tensors, the index names {}", views.len())));
    }
    let metadata = files.first().and_then(|(_, _, header)| header.metadata().clone());
    safetensors::serialize(views, metadata).map_err(|e| Error::Weights(e.to_string()))
}

/// The manifest for `packed`, made from `source` (the bytes of the source `model.safetensors`).
pub fn manifest(source: &[u8], packed: &Packed, precision: Precision, repo: Option<String>, revision: Option<String>) -> PackManifest {
    let quantisation = match precision {
        Precision::F16 => "linear layers' weights and token embeddings rounded to IEEE half precision (nearest, ties \
            to even); everything else f32",
        _ => "linear layers' weights and token embeddings as int8 with one f32 scale per output channel (row): \
            scale = max|w| / 127, q in [-127, 127], w ≈ q · scale. For the linear layers the model runs (and CLIP's \
            patch convolution) q is chosen by GPTQ (Frantar et al. 2022): per layer H = XᵀX over the inputs X it \
            sees on the packer's built-in calibration texts (CLIP: captions and generated images), dampened by 30 % \
            of its mean diagonal, columns in order of decreasing H[j][j], each rounded after the rounding errors of \
            the columns before it were spread over it; other matrices (token embeddings, unused ones) q = round(w / \
            scale); layer norms, biases, position and token-type embeddings, class embedding and logit scale f32",
    };
    PackManifest {
        format: "nlu-lab-pack".into(),
        version: 1,
        dtype: precision,
        source: PackSource { repo, revision, sha256: sha256_hex(source), size: source.len() as u64 },
        quantisation: quantisation.split_whitespace().collect::<Vec<_>>().join(" "),
        compact_tensors: packed.compact_tensors,
        kept_tensors: packed.kept_tensors,
        size: packed.bytes.len() as u64,
    }
}

/// Sentences the packer measures an encoder on (short, long, a pair, punctuation and rare words).
pub const SENTENCES: [(&str, Option<&str>); 4] = [
    ("The cat sat on the mat.", None),
    ("The quick brown fox jumps over the lazy dog because it was told to by the farmer's daughter.", None),
    ("Where is the nearest station?", Some("It is two blocks north of the old cathedral.")),
    ("Tokenizers split unbelievably rare words like floccinaucinihilipilification into pieces!", None),
];

/// The largest differences between two encoders' outputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncoderDeviation {
    /// max |Δ| over every layer's attention probabilities.
    pub attention: f32,
    /// max |Δ| over the per-head queries and keys.
    pub queries_keys: f32,
}

/// The largest |a[i] − b[i]| (over the shorter of the two).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

/// `compact` against `full` on `texts`.
pub fn encoder_deviation(full: &AttentionModel, compact: &AttentionModel, texts: &[(&str, Option<&str>)]) -> Result<EncoderDeviation> {
    let mut d = EncoderDeviation::default();
    for &(text, text_b) in texts {
        let (a, b) = (full.attention(text, text_b, true)?, compact.attention(text, text_b, true)?);
        if a.tokens != b.tokens {
            return Err(Error::Invalid("the two models tokenize differently".into()));
        }
        d.attention = d.attention.max(max_abs_diff(&a.weights, &b.weights));
        for (x, y) in [(&a.queries, &b.queries), (&a.keys, &b.keys)] {
            if let (Some(x), Some(y)) = (x, y) {
                d.queries_keys = d.queries_keys.max(max_abs_diff(x, y));
            }
        }
    }
    Ok(d)
}

/// Caption sets the packer measures CLIP on: two captions that differ in one word, and eight.
pub fn caption_sets() -> Vec<Vec<String>> {
    let two = ["a photo of a cat", "a photo of a dog"];
    let eight = [
        "a photo of a cat",
        "a photo of a dog",
        "a colourful abstract painting",
        "a chessboard",
        "static noise on an old television",
        "a sunset over the sea",
        "a diagram with circles",
        "a blurry photo",
    ];
    [two.as_slice(), eight.as_slice()].iter().map(|set| set.iter().map(|s| s.to_string()).collect()).collect()
}

/// Images the packer measures CLIP on, made here (no file needed): a colour gradient with a disc, a checkerboard
/// and seeded noise, 320 × 240 PNGs. `nlu-lab pack --image FILE` adds real photos.
pub fn generated_images() -> Vec<Vec<u8>> {
    let (w, h) = (320u32, 240u32);
    let mut seed = 0x2545_f491u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed >> 24) as u8
    };
    let kinds: [&mut dyn FnMut(u32, u32) -> [u8; 3]; 3] = [
        &mut |x, y| {
            let inside = (x as i32 - 200).pow(2) + (y as i32 - 110).pow(2) < 60 * 60;
            if inside { [250, 220, 40] } else { [(x * 255 / w) as u8, (y * 255 / h) as u8, 160] }
        },
        &mut |x, y| if (x / 40 + y / 40) % 2 == 0 { [20, 20, 20] } else { [235, 235, 235] },
        &mut |_, _| [noise(), noise(), noise()],
    ];
    kinds
        .into_iter()
        .map(|pixel| {
            let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb(pixel(x, y)));
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).expect("PNG into memory");
            png
        })
        .collect()
}

/// The largest differences between two CLIP models' outputs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClipDeviation {
    pub probability: f32,
    pub logit: f32,
}

/// `compact` against `full` on every image with every caption set.
pub fn clip_deviation(full: &ClipClassifier, compact: &ClipClassifier, images: &[Vec<u8>], sets: &[Vec<String>]) -> Result<ClipDeviation> {
    let mut d = ClipDeviation::default();
    for image in images {
        // Decoded and preprocessed once, for both models.
        let prepared = super::image_prep::prepare(image, &full.preprocess)?;
        for captions in sets {
            let (a, b) = (full.classify_prepared(&prepared, captions)?, compact.classify_prepared(&prepared, captions)?);
            d.probability = d.probability.max(max_abs_diff(&a.probs, &b.probs));
            d.logit = d.logit.max(max_abs_diff(&a.logits, &b.logits));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_matrices_of_linear_layers_and_token_embeddings_are_compact() {
        let picks = [
            ("encoder.layer.0.attention.self.query.weight", vec![384, 384], Some((384, 384))),
            ("embeddings.word_embeddings.weight", vec![30522, 384], Some((30522, 384))),
            ("embeddings.position_embeddings.weight", vec![512, 384], None),
            ("embeddings.token_type_embeddings.weight", vec![2, 384], None),
            ("embeddings.LayerNorm.weight", vec![384], None),
            ("encoder.layer.0.attention.self.query.bias", vec![384], None),
            ("vision_model.pre_layrnorm.weight", vec![768], None),
            ("vision_model.embeddings.patch_embedding.weight", vec![768, 3, 32, 32], Some((768, 3072))),
            ("vision_model.embeddings.position_embedding.weight", vec![50, 768], None),
            ("text_projection.weight", vec![512, 512], Some((512, 512))),
            ("logit_scale", vec![], None),
        ];
        for (name, shape, want) in picks {
            assert_eq!(compact_shape(name, &shape), want, "{name}");
        }
    }

    /// Pieces hold every tensor once, each piece within the limit, in transformers' sharded layout; read back
    /// piece by piece they are the source's tensors, bit for bit.
    #[test]
    fn large_weights_split_into_pieces_that_read_back_as_the_source() {
        use crate::engine::safetensors_stream::{var_builder_from_pieces, TensorStream};
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = (0..7)
            .map(|i| (format!("layer.{i}.weight"), vec![40 + i, 50], (0..(40 + i) * 50).map(|j| (i * 1000 + j) as f32 * 0.5).collect()))
            .collect();
        let bytes_of = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let data: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| bytes_of(v)).collect();
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .zip(&data)
            .map(|((n, shape, _), d)| (n.clone(), TensorView::new(Dtype::F32, shape.clone(), d).unwrap()))
            .collect();
        let source = safetensors::serialize(views, Some(HashMap::from([("format".into(), "pt".into())]))).unwrap();
        let limit = 20_000;
        let whole = split_into_pieces(source.clone(), source.len() as u64).unwrap();
        assert_eq!((whole.files.len(), whole.files[0].0.as_str(), whole.index_json.is_none()), (1, "model.safetensors", true));
        let pieces = split_into_pieces(source.clone(), limit).unwrap();
        let n = pieces.files.len();
        assert!(n >= 3, "{n} pieces");
        let index: serde_json::Value = serde_json::from_str(pieces.index_json.as_deref().unwrap()).unwrap();
        assert_eq!(index["weight_map"].as_object().unwrap().len(), tensors.len());
        let mut streams = Vec::new();
        for (i, (name, bytes)) in pieces.files.iter().enumerate() {
            assert_eq!(name, &format!("model-{:05}-of-{n:05}.safetensors", i + 1));
            assert!(bytes.len() as u64 <= limit, "{name}: {} bytes", bytes.len());
            let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
            assert_eq!(meta.metadata().as_ref().and_then(|m| m.get("format")).map(String::as_str), Some("pt"));
            let mut stream = TensorStream::with_file_size(bytes.len() as u64);
            stream.push(bytes).unwrap();
            streams.push(stream);
        }
        let vb = var_builder_from_pieces(streams).unwrap();
        for (name, shape, values) in &tensors {
            assert_eq!(index["weight_map"][name].as_str().map(|f| f.starts_with("model-")), Some(true));
            let got: Vec<f32> = vb.get(shape.as_slice(), name).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(&got, values, "{name}");
        }
        // Joined again (as the CLI reads a folder in pieces): the source, byte for byte.
        let index_json = pieces.index_json.as_deref().unwrap();
        assert_eq!(join_pieces(index_json, &pieces.files).unwrap(), source);
        let refused = join_pieces(index_json, &pieces.files[1..]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("model-00001-of-") && refused.contains("is missing"), "{refused}");
        // Each tensor (40 × 50 f32 and up, 8 000 bytes or more) is too large for a piece of 5 000: the first says so.
        let refused = split_into_pieces(source, 5_000).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("layer.0.weight alone is"), "{refused}");
    }
}

