//! Builds a checkpoint's tensors from its `model.safetensors` bytes as they arrive in pieces (the weights store's
//! IndexedDB chunks), so a 600 MB file never sits in memory twice: each piece is copied once, straight into the
//! buffer of the tensor it belongs to, and candle takes that buffer as it is (`Tensor::from_vec` does not copy).
//! The `safetensors` crate needs the whole file in one slice, hence this small streaming reader of the same format:
//! 8 bytes of little-endian header length, a JSON header, then the tensors' bytes back to back.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use serde::Deserialize;

use super::{Error, Result};

/// The JSON header is small (a few hundred KB for the largest models); more than this means a damaged file.
const MAX_HEADER_BYTES: usize = 100 << 20;

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Where the bytes of the tensor being filled go.
enum Buffer {
    /// f32, the dtype every model here computes in: filled in place, handed to candle without a copy.
    F32(Vec<f32>),
    /// Anything else (f16, bf16, integers): kept as bytes and converted once complete.
    Raw(Vec<u8>, DType),
}

struct PendingTensor {
    name: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
    dtype: String,
}

pub struct TensorStream {
    header: Vec<u8>,
    /// Tensors in file order, once the header is read.
    layout: Vec<PendingTensor>,
    header_read: bool,
    /// Index into `layout` of the tensor being filled, its buffer and how many of its bytes are in.
    current: usize,
    buffer: Option<Buffer>,
    filled: usize,
    tensors: HashMap<String, Tensor>,
}

impl Default for TensorStream {
    fn default() -> Self {
        Self::new()
    }
}

fn damaged(why: impl std::fmt::Display) -> Error {
    Error::Weights(format!("model.safetensors is damaged: {why}"))
}

fn dtype_of(name: &str) -> Result<(DType, usize)> {
    Ok(match name {
        "F32" => (DType::F32, 4),
        "F16" => (DType::F16, 2),
        "BF16" => (DType::BF16, 2),
        "F64" => (DType::F64, 8),
        "I64" => (DType::I64, 8),
        "U32" => (DType::U32, 4),
        "U8" => (DType::U8, 1),
        other => return Err(Error::Weights(format!("model.safetensors holds {other} tensors, which nlu-lab cannot read"))),
    })
}

impl TensorStream {
    pub fn new() -> Self {
        Self {
            header: Vec::new(),
            layout: Vec::new(),
            header_read: false,
            current: 0,
            buffer: None,
            filled: 0,
            tensors: HashMap::new(),
        }
    }

    /// Feed the next bytes of the file, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<()> {
        if !self.header_read {
            let taken = self.take_header(bytes)?;
            bytes = &bytes[taken..];
        }
        while !bytes.is_empty() {
            let Some(tensor) = self.layout.get(self.current) else {
                return Err(damaged("it is longer than its header says"));
            };
            let len = tensor.end - tensor.start;
            if self.buffer.is_none() {
                self.buffer = Some(Self::allocate(tensor)?);
            }
            let n = (len - self.filled).min(bytes.len());
            let target: &mut [u8] = match self.buffer.as_mut().expect("allocated above") {
                Buffer::F32(values) => bytemuck::cast_slice_mut(values.as_mut_slice()),
                Buffer::Raw(raw, _) => raw.as_mut_slice(),
            };
            target[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == len {
                self.finish_current()?;
            }
        }
        Ok(())
    }

    /// Bytes consumed so far belong to a header that is complete and well formed; returns how many of `bytes` it took.
    fn take_header(&mut self, bytes: &[u8]) -> Result<usize> {
        let mut taken = 0;
        if self.header.len() < 8 {
            taken = (8 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..taken]);
            if self.header.len() < 8 {
                return Ok(taken);
            }
        }
        let declared = u64::from_le_bytes(self.header[..8].try_into().expect("8 bytes")) as usize;
        if declared > MAX_HEADER_BYTES {
            return Err(damaged(format!("its header claims {declared} bytes")));
        }
        let want = 8 + declared - self.header.len();
        let more = want.min(bytes.len() - taken);
        self.header.extend_from_slice(&bytes[taken..taken + more]);
        taken += more;
        if self.header.len() == 8 + declared {
            self.parse_header()?;
        }
        Ok(taken)
    }

    fn parse_header(&mut self) -> Result<()> {
        let mut entries: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&self.header[8..]).map_err(|e| damaged(format!("its header is not JSON ({e})")))?;
        entries.remove("__metadata__");
        let mut layout = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            let entry: HeaderEntry =
                serde_json::from_value(value).map_err(|e| damaged(format!("header entry {name}: {e}")))?;
            let (_, width) = dtype_of(&entry.dtype)?;
            let (start, end) = entry.data_offsets;
            let elements = entry.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if end < start || elements.and_then(|e| e.checked_mul(width)) != Some(end - start) {
                return Err(damaged(format!("{name}'s size does not match its shape")));
            }
            layout.push(PendingTensor { name, shape: entry.shape, start, end, dtype: entry.dtype });
        }
        layout.sort_by_key(|t| (t.start, t.end));
        // The format stores tensors back to back with no gaps or overlaps.
        let mut at = 0;
        for t in &layout {
            if t.start != at {
                return Err(damaged(format!("{} does not start where the previous tensor ends", t.name)));
            }
            at = t.end;
        }
        self.layout = layout;
        self.header = Vec::new();
        self.header_read = true;
        // Empty tensors take no bytes, so no push would ever complete them.
        self.finish_empty()
    }

    fn allocate(tensor: &PendingTensor) -> Result<Buffer> {
        let (dtype, width) = dtype_of(&tensor.dtype)?;
        let bytes = tensor.end - tensor.start;
        let out_of_memory = || Error::Weights(format!("not enough memory for {} ({} MB)", tensor.name, bytes >> 20));
        Ok(if dtype == DType::F32 {
            let mut values = Vec::new();
            values.try_reserve_exact(bytes / width).map_err(|_| out_of_memory())?;
            values.resize(bytes / width, 0f32);
            Buffer::F32(values)
        } else {
            let mut raw = Vec::new();
            raw.try_reserve_exact(bytes).map_err(|_| out_of_memory())?;
            raw.resize(bytes, 0u8);
            Buffer::Raw(raw, dtype)
        })
    }

    fn finish_current(&mut self) -> Result<()> {
        let tensor = &self.layout[self.current];
        let buffer = match self.buffer.take() {
            Some(b) => b,
            None => Self::allocate(tensor)?,
        };
        let value = match buffer {
            Buffer::F32(values) => Tensor::from_vec(values, tensor.shape.as_slice(), &Device::Cpu)?,
            Buffer::Raw(raw, dtype) => Tensor::from_raw_buffer(&raw, dtype, &tensor.shape, &Device::Cpu)?,
        };
        self.tensors.insert(tensor.name.clone(), value);
        self.current += 1;
        self.filled = 0;
        self.finish_empty()
    }

    fn finish_empty(&mut self) -> Result<()> {
        if self.layout.get(self.current).is_some_and(|t| t.start == t.end) {
            return self.finish_current();
        }
        Ok(())
    }

    /// All tensors, once every byte the header announced has arrived.
    pub fn finish(self) -> Result<HashMap<String, Tensor>> {
        if !self.header_read {
            return Err(damaged("it ends inside its header"));
        }
        if self.current != self.layout.len() {
            let missing = &self.layout[self.current];
            return Err(damaged(format!("it ends inside {}", missing.name)));
        }
        Ok(self.tensors)
    }

    /// The finished tensors as a `VarBuilder` that hands out f32 (f16/bf16 are widened on first use).
    pub fn into_var_builder(self) -> Result<VarBuilder<'static>> {
        let tensors = TakenOnce(Mutex::new(self.finish()?));
        Ok(VarBuilder::from_backend(Box::new(tensors), DType::F32, Device::Cpu))
    }
}

/// A VarBuilder backend that hands each tensor out once and forgets it. The encoders repack most weights at load
/// (see `kernels::PackedLinear`); with candle's `HashMap` backend the original of every packed matrix would stay
/// alive until the whole model is built, doubling the peak memory of a load. Each model reads each weight once.
struct TakenOnce(Mutex<HashMap<String, Tensor>>);

impl TakenOnce {
    /// Remove and return `name`, if it has `shape` (when given). A tensor of another shape stays, so that a loader
    /// may ask again with the other shape a checkpoint could store it in (CLIP's `logit_scale`: `[]` or `[1]`).
    fn take(&self, name: &str, shape: Option<&Shape>) -> candle_core::Result<Tensor> {
        let mut tensors = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(tensor) = tensors.get(name) else {
            return Err(candle_core::Error::CannotFindTensor { path: name.to_string() }.bt());
        };
        if let Some(shape) = shape.filter(|&s| s != tensor.shape()) {
            candle_core::bail!("shape mismatch for {name}: expected {shape:?}, the checkpoint has {:?}", tensor.shape());
        }
        Ok(tensors.remove(name).expect("found above"))
    }
}

impl SimpleBackend for TakenOnce {
    fn get(&self, shape: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.take(name, Some(&shape))?.to_device(dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.take(name, None)?.to_device(dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.lock().map(|t| t.contains_key(name)).unwrap_or(false)
    }
}

// On synthetic checkpoints (engine::synth): `cargo test --features bench`, as scripts/test.sh runs it.
#[cfg(all(test, feature = "bench"))]
mod tests {
    use super::*;
    use crate::engine::synth;

    fn checkpoint() -> Vec<u8> {
        let config = crate::engine::bert::Config::from_json(include_str!("../../tests/fixtures/bert/tiny-bert/config.json"))
            .unwrap();
        synth::bert_checkpoint(&config, 7).unwrap()
    }

    #[test]
    fn pieces_of_any_size_give_the_tensors_safetensors_reads() {
        let bytes = checkpoint();
        let reference = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for piece in [1, 7, 8, 13, 4096, bytes.len()] {
            let mut stream = TensorStream::new();
            for chunk in bytes.chunks(piece) {
                stream.push(chunk).unwrap();
            }
            let tensors = stream.finish().unwrap();
            assert_eq!(tensors.len(), reference.len());
            for (name, view) in reference.tensors() {
                let ours = &tensors[&name];
                assert_eq!(ours.dims(), view.shape(), "{name}");
                let expected: &[f32] = bytemuck::cast_slice(view.data());
                assert_eq!(ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(), expected, "{name}");
            }
        }
    }

    #[test]
    fn a_mis_shaped_request_leaves_the_tensor_for_the_next_one() {
        let vb = weights_from_bytes(&checkpoint());
        let name = "embeddings.LayerNorm.weight";
        let err = vb.get((2, 16), name).unwrap_err().to_string();
        assert!(err.contains("shape mismatch") && err.contains(name), "{err}");
        assert_eq!(vb.get(32, name).unwrap().dims(), [32]);
        assert!(vb.get(32, name).is_err(), "handed out once");
    }

    fn weights_from_bytes(bytes: &[u8]) -> VarBuilder<'static> {
        let mut stream = TensorStream::new();
        stream.push(bytes).unwrap();
        stream.into_var_builder().unwrap()
    }

    #[test]
    fn a_cut_or_padded_file_is_refused() {
        let bytes = checkpoint();
        let mut cut = TensorStream::new();
        cut.push(&bytes[..bytes.len() - 1]).unwrap();
        assert!(cut.finish().unwrap_err().to_string().contains("ends inside"));
        let mut long = TensorStream::new();
        let padded = [bytes.as_slice(), &[0u8]].concat();
        assert!(long.push(&padded).unwrap_err().to_string().contains("longer than its header"));
        let mut header_only = TensorStream::new();
        header_only.push(&bytes[..4]).unwrap();
        assert!(header_only.finish().is_err());
        let mut garbage = TensorStream::new();
        assert!(garbage.push(&[0xff; 64]).is_err(), "a header length of 2^64-1 is refused before allocating");
    }
}
