//! Compact weights: the linear layers' and the token embeddings' matrices kept in 16-bit floats or in 8-bit
//! integers with one f32 scale per output channel (per row), in memory as on the wire. What `nlu-lab pack`
//! writes (see [`pack`] and the README's "Compact weights" section) and what the models load.
//!
//! A packed `model.safetensors` keeps transformers' tensor names; a compact matrix `X.weight` is stored instead as
//! - `X.weight_f16`: F16, `[rows, cols]`, or
//! - `X.weight_int8`: I8, `[rows, cols]`, with `X.weight_scale`: F32, `[rows]`; `w[r][c] ≈ q[r][c] · scale[r]`.
//!
//! Convolution kernels (CLIP's patch embedding) are stored flattened to `[out, in·kh·kw]`, the matrix the model
//! multiplies with. Distinct names rather than a dtype switch: a loader sees which form a layer is in without
//! widening anything, and a packed file can never be mistaken for a full-precision one.
//!
//! int8 as optimum / onnxruntime's weight-only "per-channel symmetric" scheme and llama.cpp's Q8 (one block per
//! row here): `scale = max|w| / 127`, `q` in [-127, 127]. [`CompactMatrix::from_f32`] rounds `q = round(w / scale)`;
//! `nlu-lab pack` then replaces a linear layer's `q` by GPTQ's choice (`engine::gptq`, same scales, same range), so
//! nothing here or in the kernels depends on how the integers were chosen. Layer norms, biases, position and
//! token-type embeddings, CLIP's class embedding and logit scale stay f32 (they are small and sensitive).

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, Init, VarBuilder};
use half::f16;
use serde::{Deserialize, Serialize};

/// The precision a matrix (or a whole model) computes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    Int8,
}

impl Precision {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "f32" => Some(Self::F32),
            "f16" => Some(Self::F16),
            "int8" => Some(Self::Int8),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Int8 => "int8",
        }
    }
}

/// A row-major matrix `[rows][cols]` in its stored precision.
#[derive(Clone, Debug)]
pub enum MatrixValues {
    F32(Vec<f32>),
    /// IEEE 754 half-precision bits, every one finite.
    F16(Vec<u16>),
    /// `w[r][c] ≈ values[r·cols + c] · scales[r]`, values in [-127, 127].
    Int8 { values: Vec<i8>, scales: Vec<f32> },
}

#[derive(Clone, Debug)]
pub struct CompactMatrix {
    pub rows: usize,
    pub cols: usize,
    pub values: MatrixValues,
}

impl CompactMatrix {
    /// `weights` `[rows][cols]` in `precision` (f32: as they are).
    pub fn from_f32(weights: Vec<f32>, rows: usize, cols: usize, precision: Precision) -> Result<Self, String> {
        assert_eq!(weights.len(), rows * cols, "matrix of {rows}×{cols}");
        let values = match precision {
            Precision::F32 => MatrixValues::F32(weights),
            Precision::F16 => {
                let mut bits = Vec::with_capacity(weights.len());
                for &w in &weights {
                    let h = f16::from_f32(w); // round to nearest, ties to even
                    if !h.is_finite() {
                        return Err(format!("the weight {w} is beyond 16-bit floats' range (±65 504)"));
                    }
                    bits.push(h.to_bits());
                }
                MatrixValues::F16(bits)
            }
            Precision::Int8 => {
                let mut values = Vec::with_capacity(weights.len());
                let mut scales = Vec::with_capacity(rows);
                for row in weights.chunks_exact(cols.max(1)).take(rows) {
                    let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
                    if !max.is_finite() {
                        return Err("a weight is not a finite number".into());
                    }
                    // An all-zero row keeps scale 0 (and q = 0): dequantised exactly.
                    let scale = max / 127.0;
                    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                    values.extend(row.iter().map(|&w| (w * inv).round().clamp(-127.0, 127.0) as i8));
                    scales.push(scale);
                }
                MatrixValues::Int8 { values, scales }
            }
        };
        Ok(Self { rows, cols, values })
    }

    pub fn precision(&self) -> Precision {
        match self.values {
            MatrixValues::F32(_) => Precision::F32,
            MatrixValues::F16(_) => Precision::F16,
            MatrixValues::Int8 { .. } => Precision::Int8,
        }
    }

    /// Bytes the matrix takes in memory (and in a packed file).
    pub fn bytes(&self) -> usize {
        match &self.values {
            MatrixValues::F32(v) => v.len() * 4,
            MatrixValues::F16(v) => v.len() * 2,
            MatrixValues::Int8 { values, scales } => values.len() + scales.len() * 4,
        }
    }

    /// The value the kernels compute with at `[r][c]`, as f32 (exact: f16 and int8 widen without rounding; the
    /// int8 scale is applied by the kernels after the sum, per output, see `kernels`).
    pub fn widened_row(&self, r: usize, out: &mut [f32]) {
        let range = r * self.cols..(r + 1) * self.cols;
        match &self.values {
            MatrixValues::F32(v) => out.copy_from_slice(&v[range]),
            MatrixValues::F16(v) => out.iter_mut().zip(&v[range]).for_each(|(o, &b)| *o = f16::from_bits(b).to_f32()),
            MatrixValues::Int8 { values, .. } => out.iter_mut().zip(&values[range]).for_each(|(o, &q)| *o = q as f32),
        }
    }

    /// Row `r` as the model sees it (int8: times its scale).
    pub fn dequantized_row(&self, r: usize, out: &mut [f32]) {
        self.widened_row(r, out);
        if let MatrixValues::Int8 { scales, .. } = &self.values {
            out.iter_mut().for_each(|x| *x *= scales[r]);
        }
    }

    /// The whole matrix as the model sees it, in f32 (for tests and the packer's report, never the engine).
    pub fn dequantized(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (r, row) in out.chunks_exact_mut(self.cols.max(1)).enumerate().take(self.rows) {
            self.dequantized_row(r, row);
        }
        out
    }

    /// The matrix `name` under `vb`, in whichever form the checkpoint stores it: `name_int8` + `name_scale`,
    /// `name_f16` (both `[rows, cols]`), or `name` itself of `shape` (f32; a convolution's kernel is flattened to
    /// `[out, in·kh·kw]`). `shape[0]` is the number of rows.
    pub fn load(vb: &VarBuilder, name: &str, shape: &[usize]) -> candle_core::Result<Self> {
        let Some((&rows, rest)) = shape.split_first() else { candle_core::bail!("{name}: a matrix has a shape") };
        let cols = rest.iter().product();
        let int8 = format!("{name}_int8");
        let half = format!("{name}_f16");
        let values = if vb.contains_tensor(&int8) {
            // I8 bytes arrive as a U8 tensor (safetensors_stream): the same bits, reinterpreted.
            let q = vb.get_with_hints_dtype((rows, cols), &int8, Init::Const(0.), DType::U8)?;
            let q: Vec<i8> = bytemuck::cast_vec(q.flatten_all()?.to_vec1::<u8>()?);
            let scales = vb.get(rows, &format!("{name}_scale"))?.to_vec1::<f32>()?;
            if q.contains(&i8::MIN) {
                candle_core::bail!("{int8} holds -128, outside the symmetric range [-127, 127]")
            }
            if let Some(bad) = scales.iter().find(|s| !s.is_finite() || **s < 0.0) {
                candle_core::bail!("{name}_scale holds {bad}")
            }
            MatrixValues::Int8 { values: q, scales }
        } else if vb.contains_tensor(&half) {
            let h = vb.get_with_hints_dtype((rows, cols), &half, Init::Const(0.), DType::F16)?;
            let bits: Vec<u16> = h.flatten_all()?.to_vec1::<f16>()?.into_iter().map(f16::to_bits).collect();
            // Infinities and NaNs would widen to wrong finite values in the SIMD kernel; no real weight is one.
            if bits.iter().any(|b| b & 0x7c00 == 0x7c00) {
                candle_core::bail!("{half} holds an infinity or NaN")
            }
            MatrixValues::F16(bits)
        } else {
            MatrixValues::F32(vb.get(shape, name)?.flatten_all()?.to_vec1::<f32>()?)
        };
        Ok(Self { rows, cols, values })
    }
}

/// A linear layer `prefix.weight` `[outputs, inputs]` (+ `prefix.bias`), in its stored precision.
pub fn linear(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<crate::engine::kernels::PackedLinear> {
    let bias = vb.get(outputs, "bias")?.to_vec1::<f32>()?;
    let layer = crate::engine::kernels::PackedLinear::from_matrix(CompactMatrix::load(&vb, "weight", &[outputs, inputs])?, Some(bias))?;
    Ok(named(layer, &vb))
}

/// [`linear`] without a bias (CLIP's projections).
pub fn linear_no_bias(vb: VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<crate::engine::kernels::PackedLinear> {
    let layer = crate::engine::kernels::PackedLinear::from_matrix(CompactMatrix::load(&vb, "weight", &[outputs, inputs])?, None)?;
    Ok(named(layer, &vb))
}

/// `layer`, natively with the name of its weight under `vb` (`prefix.weight`), for the packer's calibration
/// (`engine::calibration`); in wasm as it is.
pub fn named(layer: crate::engine::kernels::PackedLinear, vb: &VarBuilder) -> crate::engine::kernels::PackedLinear {
    #[cfg(not(target_arch = "wasm32"))]
    return layer.named(format!("{}.weight", vb.prefix()));
    #[cfg(target_arch = "wasm32")]
    {
        let _ = vb;
        layer
    }
}

/// A token embedding table `[vocab, hidden]`: candle's `Embedding` in f32, rows widened on lookup when compact (a
/// 49 408 × 512 table is 101 MB in f32, 25 MB in int8).
pub enum TokenEmbedding {
    Full(Embedding),
    Compact(CompactMatrix),
}

impl TokenEmbedding {
    pub fn load(vb: VarBuilder, vocab: usize, hidden: usize) -> candle_core::Result<Self> {
        if vb.contains_tensor("weight_int8") || vb.contains_tensor("weight_f16") {
            Ok(Self::Compact(CompactMatrix::load(&vb, "weight", &[vocab, hidden])?))
        } else {
            Ok(Self::Full(candle_nn::embedding(vocab, hidden, vb)?))
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            Self::Full(_) => Precision::F32,
            Self::Compact(m) => m.precision(),
        }
    }

    /// The table `[vocab, hidden]` when it is full precision (a masked-word head's tied decoder).
    pub fn full_table(&self) -> Option<Tensor> {
        match self {
            Self::Full(e) => Some(e.embeddings().clone()),
            Self::Compact(_) => None,
        }
    }

    /// `ids` (any shape, u32) → `[..ids, hidden]`.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let table = match self {
            Self::Full(e) => return e.forward(ids),
            Self::Compact(m) => m,
        };
        let flat = ids.flatten_all()?.to_vec1::<u32>()?;
        let mut out = vec![0f32; flat.len() * table.cols];
        for (&id, row) in flat.iter().zip(out.chunks_exact_mut(table.cols.max(1))) {
            if id as usize >= table.rows {
                candle_core::bail!("token id {id} is outside the vocabulary ({})", table.rows)
            }
            table.dequantized_row(id as usize, row);
        }
        let mut shape = ids.dims().to_vec();
        shape.push(table.cols);
        Tensor::from_vec(out, shape, ids.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_rows_round_to_their_own_scale() {
        let w = vec![0.5, -1.27, 0.01, 0.0, 0.0, 0.0, 3.0, 1.0, -2.0];
        let m = CompactMatrix::from_f32(w.clone(), 3, 3, Precision::Int8).unwrap();
        let MatrixValues::Int8 { values, scales } = &m.values else { panic!("int8") };
        assert_eq!(values, &[50, -127, 1, 0, 0, 0, 127, 42, -85]);
        assert_eq!(scales, &[1.27f32 / 127.0, 0.0, 3.0 / 127.0]);
        for (got, want) in m.dequantized().iter().zip(&w) {
            // Half a step of the row's scale at most.
            assert!((got - want).abs() <= 0.5 * 3.0 / 127.0 + 1e-7, "{got} vs {want}");
        }
        assert_eq!(m.bytes(), 9 + 12);
    }

    #[test]
    fn f16_rounds_to_nearest_and_refuses_what_it_cannot_hold() {
        let m = CompactMatrix::from_f32(vec![1.0, 1.0 + 1e-4, -0.333_333, 6e-8], 2, 2, Precision::F16).unwrap();
        let back = m.dequantized();
        assert_eq!(back[0], 1.0);
        assert_eq!(back[1], 1.0); // below half an f16 step at 1.0 (2^-11)
        assert!((back[2] + 0.333_333).abs() < 1e-4);
        assert!(back[3] > 0.0 && back[3] < 1e-7); // a subnormal half
        assert!(CompactMatrix::from_f32(vec![1e5], 1, 1, Precision::F16).is_err());
    }
}
