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
use serde::de::{Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{Error, Result};

/// The JSON header is small (a few hundred KB for the largest models); more than this means a damaged file. The
/// same cap as the `safetensors` crate's. Parsed into the typed entries below (never a `serde_json::Value`, which
/// takes several times the text's size), the header costs little more memory than its bytes.
const MAX_HEADER_BYTES: u64 = 100_000_000;
/// CLIP L/14 has about 600 tensors, a 70B-parameter LLM about 720.
const MAX_TENSORS: usize = 10_000;
/// Real tensors have at most 4 dimensions (a convolution kernel).
const MAX_RANK: usize = 8;
/// 2^32 − 1 elements is 16 GB in f32, four times the memory a browser tab can address; the largest tensor here
/// (multilingual BERT's word embeddings) has 92 M. Checked on the dimensions with 0 counted as 1, so that
/// candle's strides cannot overflow either, and every dimension fits wasm32's usize.
const MAX_TENSOR_ELEMENTS: u64 = u32::MAX as u64;

/// One tensor's header entry, as stored.
struct HeaderEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// The header's entries in file order of their keys (`__metadata__` skipped), refusing more than [`MAX_TENSORS`],
/// shapes of more than [`MAX_RANK`] dimensions and repeated names while parsing.
struct Header(Vec<(String, HeaderEntry)>);

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of tensor entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Header, A::Error> {
                let mut entries = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some(name) = map.next_key::<String>()? {
                    if name == "__metadata__" {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    if entries.len() == MAX_TENSORS {
                        return Err(A::Error::custom(format!("it lists more than {MAX_TENSORS} tensors")));
                    }
                    if !seen.insert(name.clone()) {
                        return Err(A::Error::custom(format!("{name} appears twice in its header")));
                    }
                    let entry = map.next_value::<Entry>().map_err(|e| A::Error::custom(format!("{name}: {e}")))?;
                    entries.push((name, entry.0));
                }
                Ok(Header(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// A [`HeaderEntry`], its shape read through [`Dims`].
struct Entry(HeaderEntry);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            dtype: String,
            shape: Dims,
            data_offsets: (u64, u64),
        }
        let raw = Raw::deserialize(deserializer)?;
        Ok(Entry(HeaderEntry { dtype: raw.dtype, shape: raw.shape.0, data_offsets: raw.data_offsets }))
    }
}

/// A shape of at most [`MAX_RANK`] dimensions, refused as soon as the list runs longer.
struct Dims(Vec<u64>);

impl<'de> Deserialize<'de> for Dims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct DimsVisitor;
        impl<'de> Visitor<'de> for DimsVisitor {
            type Value = Dims;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of dimensions")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Dims, A::Error> {
                let mut dims = Vec::new();
                while let Some(d) = seq.next_element::<u64>()? {
                    if dims.len() == MAX_RANK {
                        return Err(A::Error::custom(format!("its shape has more than {MAX_RANK} dimensions")));
                    }
                    dims.push(d);
                }
                Ok(Dims(dims))
            }
        }
        deserializer.deserialize_seq(DimsVisitor)
    }
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
    /// The whole file's length, when known: then no tensor may reach past it and none may be left unread.
    file_size: Option<u64>,
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

/// The candle dtype and byte width of a safetensors dtype name, for tensor `tensor`.
fn dtype_of(tensor: &str, name: &str) -> Result<(DType, usize)> {
    Ok(match name {
        "F32" => (DType::F32, 4),
        "F16" => (DType::F16, 2),
        "BF16" => (DType::BF16, 2),
        "F64" => (DType::F64, 8),
        "I64" => (DType::I64, 8),
        "U32" => (DType::U32, 4),
        "U8" => (DType::U8, 1),
        // int8 compact weights (engine::compact): kept as the same bytes in a U8 tensor, read back as i8.
        "I8" => (DType::U8, 1),
        other => {
            return Err(Error::Weights(format!(
                "model.safetensors: {tensor} is of dtype {other}, which nlu-lab cannot read (F32, F16, BF16, F64, I64, U32, U8)"
            )))
        }
    })
}

impl TensorStream {
    /// A reader for a file of unknown length (its end is then checked by [`TensorStream::finish`] only).
    pub fn new() -> Self {
        Self {
            file_size: None,
            header: Vec::new(),
            layout: Vec::new(),
            header_read: false,
            current: 0,
            buffer: None,
            filled: 0,
            tensors: HashMap::new(),
        }
    }

    /// A reader for a file of `size` bytes: a header whose tensors do not fill exactly that many is refused before
    /// any tensor is allocated.
    pub fn with_file_size(size: u64) -> Self {
        Self { file_size: Some(size), ..Self::new() }
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
        let declared = u64::from_le_bytes(self.header[..8].try_into().expect("8 bytes"));
        if declared > MAX_HEADER_BYTES {
            return Err(damaged(format!(
                "its header claims {declared} bytes; a safetensors header is at most {MAX_HEADER_BYTES} (real ones are under 1 MB)"
            )));
        }
        if let Some(size) = self.file_size.filter(|&size| declared > size.saturating_sub(8)) {
            return Err(damaged(format!("its header claims {declared} bytes, but the whole file is {size}")));
        }
        let declared = declared as usize; // at most MAX_HEADER_BYTES, so it fits in wasm32's usize too
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
        let header: Header = serde_json::from_slice(&self.header[8..]).map_err(|e| damaged(format!("its header: {e}")))?;
        // The data section's length, when the file's is known.
        let data_len = self.file_size.map(|size| size - self.header.len() as u64);
        let mut layout = Vec::with_capacity(header.0.len());
        for (name, entry) in header.0 {
            layout.push(Self::check_entry(name, entry, data_len)?);
        }
        layout.sort_by_key(|t| (t.start, t.end));
        // The format stores tensors back to back with no gaps or overlaps.
        let mut at = 0;
        let mut previous: Option<&PendingTensor> = None;
        for t in &layout {
            if t.start < at {
                let p = previous.expect("at > 0 only after a tensor");
                return Err(damaged(format!(
                    "{}'s bytes [{}, {}) overlap {}'s [{}, {})",
                    t.name, t.start, t.end, p.name, p.start, p.end
                )));
            }
            if t.start > at {
                return Err(damaged(format!("{} starts at byte {} of the data, leaving a gap after byte {at}", t.name, t.start)));
            }
            at = t.end;
            previous = Some(t);
        }
        if let Some(len) = data_len.filter(|&len| len != at as u64) {
            return Err(damaged(format!("its tensors take {at} bytes, but {len} follow the header")));
        }
        self.layout = layout;
        self.header = Vec::new();
        self.header_read = true;
        // Empty tensors take no bytes, so no push would ever complete them.
        self.finish_empty()
    }

    /// One entry's dtype, shape and offsets agree with each other and with the data section (`data_len` bytes,
    /// when known), all before anything is allocated for it.
    fn check_entry(name: String, entry: HeaderEntry, data_len: Option<u64>) -> Result<PendingTensor> {
        let (_, width) = dtype_of(&name, &entry.dtype)?;
        let shape = &entry.shape;
        let bound = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d.max(1)));
        match bound {
            None => return Err(damaged(format!("{name}'s shape {shape:?} has an element count that overflows"))),
            Some(n) if n > MAX_TENSOR_ELEMENTS => {
                return Err(damaged(format!("{name}'s shape {shape:?} is absurd: more than {MAX_TENSOR_ELEMENTS} elements")))
            }
            Some(_) => {}
        }
        // At most 2^32 · 8: neither overflows.
        let bytes = shape.iter().product::<u64>() * width as u64;
        let (start, end) = entry.data_offsets;
        if end < start {
            return Err(damaged(format!("{name}'s data_offsets [{start}, {end}) end before they start")));
        }
        if end - start != bytes {
            return Err(damaged(format!(
                "{name}'s data_offsets [{start}, {end}) hold {} bytes, but its shape {shape:?} of {} needs {bytes}",
                end - start,
                entry.dtype
            )));
        }
        if let Some(len) = data_len.filter(|&len| end > len) {
            return Err(damaged(format!(
                "{name}'s data_offsets [{start}, {end}) reach past the end of the file ({len} bytes of data)"
            )));
        }
        let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
            return Err(damaged(format!("{name}'s data_offsets [{start}, {end}) are beyond what this device can address")));
        };
        let shape = shape.iter().map(|&d| d as usize).collect(); // each ≤ MAX_TENSOR_ELEMENTS = u32::MAX
        Ok(PendingTensor { name, shape, start, end, dtype: entry.dtype })
    }

    fn allocate(tensor: &PendingTensor) -> Result<Buffer> {
        let (dtype, width) = dtype_of(&tensor.name, &tensor.dtype)?;
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
        var_builder_from_pieces(vec![self])
    }
}

/// A checkpoint stored in pieces (transformers' sharded layout, `model-00001-of-00004.safetensors`, …: a static
/// host takes files up to 50 MB), each piece streamed on its own, as one `VarBuilder`. A tensor in two pieces is
/// refused: the pieces would not be one checkpoint.
pub fn var_builder_from_pieces(pieces: Vec<TensorStream>) -> Result<VarBuilder<'static>> {
    let mut tensors = HashMap::new();
    for piece in pieces {
        for (name, tensor) in piece.finish()? {
            if tensors.insert(name.clone(), tensor).is_some() {
                return Err(damaged(format!("two of its pieces hold {name}")));
            }
        }
    }
    Ok(VarBuilder::from_backend(Box::new(TakenOnce(Mutex::new(tensors))), DType::F32, Device::Cpu))
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
            let mut stream = TensorStream::with_file_size(bytes.len() as u64);
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

    /// As the weights store streams it: the file's size is known from the start, the bytes come in pieces.
    #[test]
    fn a_header_that_lies_is_refused_as_soon_as_it_is_complete() {
        // 1 GB of f32 announced in a file of a few hundred bytes.
        let header = br#"{"w":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0; 256]);
        let mut stream = TensorStream::with_file_size(file.len() as u64);
        let end_of_header = 8 + header.len();
        for (i, byte) in file.iter().enumerate() {
            match stream.push(std::slice::from_ref(byte)) {
                Ok(()) => assert!(i + 1 < end_of_header, "byte {i} accepted"),
                Err(e) => {
                    assert_eq!(i + 1, end_of_header, "refused with the header's last byte");
                    assert!(e.to_string().contains("w's data_offsets [0, 1073741824) reach past the end"), "{e}");
                    return;
                }
            }
        }
        panic!("never refused");
    }
}
