//! Fast paths for the two things that take the time in wasm: the linear layers' matrix products and GELU.
//!
//! [`PackedLinear`] replaces candle's `Linear` in the encoders. candle 0.11 hands every `x·Wᵀ` to gemm, which
//! re-packs the whole weight matrix on each call: at the short inputs the app sees (16–128 tokens) that packing
//! costs as much as a quarter of the product (more at 16 tokens). Here the weight is packed once, at load, into
//! column panels in the order the micro-kernel reads them, and the product runs a 4×8 SIMD128 micro-kernel
//! (wasm32) with the bias added and the activation applied on the way out. Natively candle's product is kept (it
//! uses AVX/FMA kernels and threads); the same packed kernel, with a scalar micro-kernel doing exactly the SIMD
//! one's arithmetic, is tested natively against it.
//!
//! Compact weights (`engine::compact`, `nlu-lab pack`) stay f16 or int8 in their panels; each panel is widened to
//! f32 just before the micro-kernel uses it, so the kernel itself is the same for all three precisions.
//!
//! [`gelu_erf_in_place`]: transformers' exact GELU with a rational erf approximation (Eigen's, |error| < 1e-6)
//! that vectorises, instead of libm's branchy scalar `erff`; [`quick_gelu_in_place`] likewise for CLIP's
//! `x·σ(1.702x)` with a polynomial `exp` (one pass instead of candle's three, each calling libm's `expf`).

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::Linear;

use super::activation::Activation;
use super::compact::{CompactMatrix, MatrixValues, Precision};

/// Output columns per panel (two SIMD128 vectors).
const NR: usize = 8;
/// Rows per micro-kernel call. 4×8 (8 accumulators) measured best: 5×8 ran the linear layers 1.6× slower in
/// Chromium 156 (presumably V8 spilling SIMD registers; not inspected), see scripts/bench.sh's profile.
const MR: usize = 4;

/// A linear layer `y = x·Wᵀ + b` whose weight is packed once for the micro-kernel, in the precision it is
/// stored in (see `compact`): f32 panels, or f16 / int8 panels widened to f32 one panel at a time while
/// multiplying (a `k × 8` scratch of 3–96 KB, in cache), so a compact model never exists in f32 in memory.
#[derive(Clone, Debug)]
pub struct PackedLinear {
    inputs: usize,
    outputs: usize,
    panels: Panels,
    bias: Option<Vec<f32>>,
    /// Natively candle's own product is faster than a scalar kernel: the f32 layer as candle's `Linear`...
    #[cfg(not(target_arch = "wasm32"))]
    linear: Option<Linear>,
    /// ...and a compact one as a candle tensor in its stored form, widened for each product (one layer at a
    /// time, by candle's optimised conversions: the scalar widening would crawl in unoptimised test builds).
    #[cfg(not(target_arch = "wasm32"))]
    native_compact: Option<NativeCompact>,
    /// The weight's tensor name, for the packer's calibration (`engine::calibration`); native only.
    #[cfg(not(target_arch = "wasm32"))]
    name: Option<std::sync::Arc<str>>,
}

/// A compact weight `[outputs, inputs]` for candle: F16 as it is, int8 as its bytes in a U8 tensor (candle has
/// no i8) with the scales `[outputs, 1]`.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug)]
struct NativeCompact {
    weight: Tensor,
    scales: Option<Tensor>,
    bias: Option<Tensor>,
}

#[cfg(not(target_arch = "wasm32"))]
impl NativeCompact {
    fn new(matrix: &CompactMatrix, bias: Option<&[f32]>) -> Result<Self> {
        let dev = candle_core::Device::Cpu;
        let shape = (matrix.rows, matrix.cols);
        let (weight, scales) = match &matrix.values {
            MatrixValues::F32(_) => candle_core::bail!("f32 weights go through candle's Linear"),
            MatrixValues::F16(bits) => {
                let halves: Vec<half::f16> = bits.iter().map(|&b| half::f16::from_bits(b)).collect();
                (Tensor::from_vec(halves, shape, &dev)?, None)
            }
            MatrixValues::Int8 { values, scales } => (
                Tensor::from_vec(bytemuck::cast_slice::<i8, u8>(values).to_vec(), shape, &dev)?,
                Some(Tensor::from_slice(scales, (matrix.rows, 1), &dev)?),
            ),
        };
        let bias = bias.map(|b| Tensor::from_slice(b, matrix.rows, &dev)).transpose()?;
        Ok(Self { weight, scales, bias })
    }

    /// The weight as f32, for one product.
    fn widened(&self) -> Result<Tensor> {
        let w = self.weight.to_dtype(DType::F32)?;
        match &self.scales {
            None => Ok(w),
            // Two's complement: bytes 128..=255 are -128..=-1.
            Some(scales) => ((&w - ((&w / 128.0)?.floor()? * 256.0)?)?).broadcast_mul(scales),
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Linear::new(self.widened()?, self.bias.clone()).forward(&x.to_dtype(DType::F32)?)
    }
}

/// The weight `[outputs, inputs]` as `[outputs / NR (rounded up)][inputs][NR]`: panel p holds columns
/// `p·NR ..`, zero beyond `outputs`.
#[derive(Clone, Debug)]
enum Panels {
    F32(Vec<f32>),
    /// Half-precision bits (all finite, checked at load).
    F16(Vec<u16>),
    /// Integers in [-127, 127] and one scale per output column (zero-padded to whole panels), applied to the
    /// column's sum: `y[j] = scale[j] · Σ x·q[j] + b[j]`.
    Int8 { values: Vec<i8>, scales: Vec<f32> },
}

impl PackedLinear {
    /// The layer's output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn new(linear: Linear) -> Result<Self> {
        let (outputs, inputs) = linear.weight().dims2()?;
        let weight = linear.weight().to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let bias = linear.bias().map(|b| b.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
        Ok(Self {
            inputs,
            outputs,
            panels: Panels::F32(pack(&weight, outputs, inputs)),
            bias,
            #[cfg(not(target_arch = "wasm32"))]
            linear: Some(linear),
            #[cfg(not(target_arch = "wasm32"))]
            native_compact: None,
            #[cfg(not(target_arch = "wasm32"))]
            name: None,
        })
    }

    /// From a matrix `[outputs, inputs]` in any precision.
    pub fn from_matrix(matrix: CompactMatrix, bias: Option<Vec<f32>>) -> Result<Self> {
        let (outputs, inputs) = (matrix.rows, matrix.cols);
        if bias.as_ref().is_some_and(|b| b.len() != outputs) {
            candle_core::bail!("linear: {} biases for {outputs} outputs", bias.map_or(0, |b| b.len()))
        }
        #[cfg(not(target_arch = "wasm32"))]
        let native_compact = match matrix.values {
            MatrixValues::F32(_) => None,
            _ => Some(NativeCompact::new(&matrix, bias.as_deref())?),
        };
        let panels = match matrix.values {
            MatrixValues::F32(w) => {
                #[cfg(not(target_arch = "wasm32"))]
                {
                    let weight = Tensor::from_slice(&w, (outputs, inputs), &candle_core::Device::Cpu)?;
                    let b = bias.as_ref().map(|b| Tensor::from_slice(b, outputs, &candle_core::Device::Cpu)).transpose()?;
                    return Self::new(Linear::new(weight, b));
                }
                #[cfg(target_arch = "wasm32")]
                Panels::F32(pack(&w, outputs, inputs))
            }
            MatrixValues::F16(w) => Panels::F16(pack(&w, outputs, inputs)),
            MatrixValues::Int8 { values, mut scales } => {
                scales.resize(outputs.div_ceil(NR) * NR, 0.0);
                Panels::Int8 { values: pack(&values, outputs, inputs), scales }
            }
        };
        Ok(Self {
            inputs,
            outputs,
            panels,
            bias,
            #[cfg(not(target_arch = "wasm32"))]
            linear: None,
            #[cfg(not(target_arch = "wasm32"))]
            native_compact,
            #[cfg(not(target_arch = "wasm32"))]
            name: None,
        })
    }

    /// The layer with its weight's tensor name (e.g. `encoder.layer.0.attention.self.query.weight`), under which
    /// [`super::calibration`] records its inputs while the packer calibrates. Native only.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn named(mut self, name: String) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn precision(&self) -> Precision {
        match self.panels {
            Panels::F32(_) => Precision::F32,
            Panels::F16(_) => Precision::F16,
            Panels::Int8 { .. } => Precision::Int8,
        }
    }

    /// `x`: `[.., inputs]` → `[.., outputs]`, then `activation` if given.
    pub fn forward_act(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(name) = &self.name {
            super::calibration::record(name, x)?;
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(y) = self.linear.as_ref().map(|l| l.forward(x)).or_else(|| self.native_compact.as_ref().map(|c| c.forward(x))) {
            let y = y?;
            return match activation {
                Some(a) => a.forward(&y),
                None => Ok(y),
            };
        }
        self.forward_packed(x, activation)
    }

    /// The packed kernel (what wasm runs); public so that native tests check it against candle.
    pub fn forward_packed(&self, x: &Tensor, activation: Option<Activation>) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let Some((&k, lead)) = dims.split_last() else { candle_core::bail!("linear: a scalar input") };
        if k != self.inputs {
            candle_core::bail!("linear: input width {k}, the layer takes {}", self.inputs)
        }
        let m: usize = lead.iter().product();
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        let mut out = vec![0f32; m * self.outputs];
        {
            let (storage, layout) = x.storage_and_layout();
            let candle_core::Storage::Cpu(cpu) = &*storage else { candle_core::bail!("linear: not a CPU tensor") };
            let all = cpu.as_slice::<f32>()?;
            let a = &all[layout.start_offset()..layout.start_offset() + m * k];
            matmul_panels(a, k, m, k, &self.panels, self.outputs, self.bias.as_deref(), &mut out, self.outputs);
        }
        match activation {
            Some(Activation::Gelu) => gelu_erf_in_place(&mut out),
            Some(Activation::QuickGelu) => quick_gelu_in_place(&mut out),
            _ => {}
        }
        let mut shape = lead.to_vec();
        shape.push(self.outputs);
        let y = Tensor::from_vec(out, shape, x.device())?;
        match activation {
            Some(a @ (Activation::GeluTanh | Activation::Relu)) => a.forward(&y),
            _ => Ok(y),
        }
    }
}

impl Module for PackedLinear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, None)
    }
}

/// `weight` `[n, k]` row-major → panels `[n / NR][k][NR]` (zero-padded columns).
fn pack<T: Copy + Default>(weight: &[T], n: usize, k: usize) -> Vec<T> {
    let panels = n.div_ceil(NR);
    let mut packed = vec![T::default(); panels * k * NR];
    for (col, row) in weight.chunks_exact(k).enumerate() {
        let (p, j) = (col / NR, col % NR);
        let panel = &mut packed[p * k * NR..(p + 1) * k * NR];
        for (kk, &w) in row.iter().enumerate() {
            panel[kk * NR + j] = w;
        }
    }
    packed
}

/// The size of the wasm thread pool the matmuls may use (feature `threads`: set by the worker once
/// wasm-bindgen-rayon's pool runs; 0 or 1 = this thread only). Asking rayon itself would make it try to build a
/// default pool, which cannot start threads on wasm.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
static POOL_THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Let the packed matmuls use rayon's global pool of `threads` threads (already built).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn set_pool_threads(threads: usize) {
    POOL_THREADS.store(threads, std::sync::atomic::Ordering::Relaxed);
}

/// The pool size set by [`set_pool_threads`].
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn pool_threads() -> usize {
    POOL_THREADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Below this many multiply-adds a product stays on the calling thread: a pool round trip costs about 0.1 ms in
/// wasm, and at 2²⁰ MiniLM at 16 tokens ran slower on 2 threads than on 1 (scripts/bench.sh: 19.7 vs 15.7 ms).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
const PARALLEL_MIN_MACS: usize = 1 << 22;

/// `out[m, n] = scale · (a[m, k] · Bᵀ) (+ bias)` with B packed by [`pack`]; rows of `a` are `lda` apart, rows of
/// `out` `ldc` apart. With a thread pool (feature `threads`) large products are split by column panels: each
/// thread reads its own part of the weight, and every output element is computed exactly as on one thread.
#[allow(clippy::too_many_arguments)]
fn matmul_packed(
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    assert!(packed.len() >= panels * k * NR && a.len() >= (m - 1) * lda + k && out.len() >= (m - 1) * ldc + n);
    assert!(bias.is_none_or(|b| b.len() >= n));
    let out_ptr = OutPtr(out.as_mut_ptr());
    // SAFETY: each range is a disjoint set of column panels of `out`, bounded by the asserts above.
    for_panel_ranges(panels, m * n * k, |range| unsafe { panel_range(range, a, lda, m, k, packed, n, bias, scale, out_ptr, ldc) });
}

/// Run `work` on ranges that cover `0..panels` once: with a thread pool (feature `threads`) and at least
/// `PARALLEL_MIN_MACS` multiply-adds, a few blocks per thread (for balance when one thread is slowed down by the
/// rest of the machine); else the whole range on this thread.
fn for_panel_ranges(panels: usize, macs: usize, work: impl Fn(std::ops::Range<usize>) + Sync) {
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    {
        let threads = POOL_THREADS.load(std::sync::atomic::Ordering::Relaxed);
        if threads > 1 && panels > 1 && macs >= PARALLEL_MIN_MACS {
            use rayon::prelude::*;
            let block = panels.div_ceil(threads * 4).max(1);
            (0..panels.div_ceil(block)).into_par_iter().for_each(|b| work(b * block..((b + 1) * block).min(panels)));
            return;
        }
    }
    let _ = macs;
    work(0..panels)
}

/// The output pointer shared by the threads of one product (each writes its own columns).
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: only used by `matmul_packed`, whose blocks write disjoint elements.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Column panels `panels` of [`matmul_packed`]'s product.
///
/// # Safety
/// `out` must be valid for writes at `(m - 1)·ldc + n` elements and no one else may touch these panels' columns.
#[allow(clippy::too_many_arguments)]
unsafe fn panel_range(
    panels: std::ops::Range<usize>,
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    packed: &[f32],
    n: usize,
    bias: Option<&[f32]>,
    scale: f32,
    out: OutPtr,
    ldc: usize,
) {
    for p in panels {
        panel_rows(&packed[p * k * NR..(p + 1) * k * NR], p, a, lda, m, k, n, bias, &[scale; NR], out, ldc);
    }
}

/// Every row block of `a` times one f32 panel (columns `p·NR ..`): `out = acc · col_scale + bias`.
///
/// # Safety
/// As [`panel_range`], for this panel's columns.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn panel_rows(
    panel: &[f32],
    p: usize,
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    n: usize,
    bias: Option<&[f32]>,
    col_scale: &[f32; NR],
    out: OutPtr,
    ldc: usize,
) {
    let col0 = p * NR;
    let cols = NR.min(n - col0);
    let mut bias_block = [0f32; NR];
    if let Some(b) = bias {
        bias_block[..cols].copy_from_slice(&b[col0..col0 + cols]);
    }
    let mut row = 0;
    while row < m {
        let rows = MR.min(m - row);
        let mut acc = [[0f32; NR]; MR];
        if rows <= 2 {
            micro_kernel_2(&a[row * lda..], lda, k, rows, panel, &mut acc);
        } else {
            micro_kernel(&a[row * lda..], lda, k, rows, panel, &mut acc);
        }
        for r in 0..rows {
            let dst = out.0.add((row + r) * ldc + col0);
            for j in 0..cols {
                *dst.add(j) = acc[r][j] * col_scale[j] + bias_block[j];
            }
        }
        row += MR;
    }
}

/// [`matmul_packed`] for panels in any precision (`scale` 1): a compact panel is widened into a `k × NR` f32
/// scratch, then every row block runs the f32 micro-kernel on it. Widening once per panel (not per row block)
/// keeps its cost at `1 / m` of the products; the scratch stays in cache. The int8 scale multiplies each
/// column's sum, as the quantisation defines it.
#[allow(clippy::too_many_arguments)]
fn matmul_panels(a: &[f32], lda: usize, m: usize, k: usize, panels: &Panels, n: usize, bias: Option<&[f32]>, out: &mut [f32], ldc: usize) {
    let count = n.div_ceil(NR);
    let stored = match panels {
        Panels::F32(p) => return matmul_packed(a, lda, m, k, p, n, bias, 1.0, out, ldc),
        Panels::F16(p) => p.len(),
        Panels::Int8 { values, scales } => {
            assert!(scales.len() >= count * NR);
            values.len()
        }
    };
    if m == 0 || n == 0 {
        return;
    }
    assert!(stored >= count * k * NR && a.len() >= (m - 1) * lda + k && out.len() >= (m - 1) * ldc + n);
    assert!(bias.is_none_or(|b| b.len() >= n));
    let out_ptr = OutPtr(out.as_mut_ptr());
    // SAFETY: each range is a disjoint set of column panels of `out`, bounded by the asserts above.
    for_panel_ranges(count, m * n * k, |range| unsafe { compact_panel_range(range, a, lda, m, k, panels, n, bias, out_ptr, ldc) });
}

/// Column panels `range` of [`matmul_panels`]'s product, for f16 / int8 panels.
///
/// # Safety
/// As [`panel_range`].
#[allow(clippy::too_many_arguments)]
unsafe fn compact_panel_range(
    range: std::ops::Range<usize>,
    a: &[f32],
    lda: usize,
    m: usize,
    k: usize,
    panels: &Panels,
    n: usize,
    bias: Option<&[f32]>,
    out: OutPtr,
    ldc: usize,
) {
    let mut scratch = vec![0f32; k * NR];
    for p in range {
        let stored = p * k * NR..(p + 1) * k * NR;
        let col_scale = match panels {
            Panels::F32(_) => unreachable!("f32 panels go through matmul_packed"),
            Panels::F16(bits) => {
                widen_f16(&bits[stored], &mut scratch);
                [1.0; NR]
            }
            Panels::Int8 { values, scales } => {
                widen_i8(&values[stored], &mut scratch);
                scales[p * NR..(p + 1) * NR].try_into().expect("NR scales")
            }
        };
        panel_rows(&scratch, p, a, lda, m, k, n, bias, &col_scale, out, ldc);
    }
}

/// int8 → f32 (exact), 16 at a time in SIMD128.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn widen_i8(src: &[i8], dst: &mut [f32]) {
    use core::arch::wasm32::*;
    assert_eq!(src.len(), dst.len());
    let whole = src.len() / 16 * 16;
    // SAFETY: every 16-byte load and 4 × 16-byte store is inside `src[..whole]` / `dst[..whole]`.
    unsafe {
        for i in (0..whole).step_by(16) {
            let bytes = v128_load(src.as_ptr().add(i) as *const v128);
            let (lo, hi) = (i16x8_extend_low_i8x16(bytes), i16x8_extend_high_i8x16(bytes));
            let out = dst.as_mut_ptr().add(i) as *mut v128;
            v128_store(out, f32x4_convert_i32x4(i32x4_extend_low_i16x8(lo)));
            v128_store(out.add(1), f32x4_convert_i32x4(i32x4_extend_high_i16x8(lo)));
            v128_store(out.add(2), f32x4_convert_i32x4(i32x4_extend_low_i16x8(hi)));
            v128_store(out.add(3), f32x4_convert_i32x4(i32x4_extend_high_i16x8(hi)));
        }
    }
    dst[whole..].iter_mut().zip(&src[whole..]).for_each(|(d, &q)| *d = q as f32);
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn widen_i8(src: &[i8], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    dst.iter_mut().zip(src).for_each(|(d, &q)| *d = q as f32);
}

/// Finite f16 → f32 (exact), 8 at a time in SIMD128, which has no half-precision conversion: the exponent and
/// mantissa bits shifted into place and multiplied by 2^112 (re-biasing the exponent; subnormal halves come out
/// as the right normal floats), then the sign. Infinities and NaNs are refused at load (`compact`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn widen_f16(src: &[u16], dst: &mut [f32]) {
    use core::arch::wasm32::*;
    assert_eq!(src.len(), dst.len());
    let whole = src.len() / 8 * 8;
    // SAFETY: every 16-byte load and 2 × 16-byte store is inside `src[..whole]` / `dst[..whole]`.
    unsafe {
        let rebias = f32x4_splat(f32::from_bits(0x7780_0000)); // 2^112
        let magnitude = u32x4_splat(0x7fff);
        let sign = u32x4_splat(0x8000);
        let widen = |h: v128| {
            let bits = u32x4_shl(v128_and(h, magnitude), 13);
            let value = f32x4_mul(bits, rebias);
            v128_or(value, u32x4_shl(v128_and(h, sign), 16))
        };
        for i in (0..whole).step_by(8) {
            let halves = v128_load(src.as_ptr().add(i) as *const v128);
            let out = dst.as_mut_ptr().add(i) as *mut v128;
            v128_store(out, widen(u32x4_extend_low_u16x8(halves)));
            v128_store(out.add(1), widen(u32x4_extend_high_u16x8(halves)));
        }
    }
    dst[whole..].iter_mut().zip(&src[whole..]).for_each(|(d, &b)| *d = half::f16::from_bits(b).to_f32());
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn widen_f16(src: &[u16], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len());
    dst.iter_mut().zip(src).for_each(|(d, &b)| *d = half::f16::from_bits(b).to_f32());
}

/// The product the compact kernels compute, written as plain loops (what the tests compare them with): per
/// output, the f32 sum in input order of `x · widened weight`, times the int8 scale, plus the bias.
pub fn reference_product(x: &[f32], m: usize, matrix: &CompactMatrix, bias: Option<&[f32]>) -> Vec<f32> {
    let (n, k) = (matrix.rows, matrix.cols);
    let mut w = vec![0f32; k];
    let mut out = vec![0f32; m * n];
    for j in 0..n {
        matrix.widened_row(j, &mut w);
        let scale = match &matrix.values {
            MatrixValues::Int8 { scales, .. } => scales[j],
            _ => 1.0,
        };
        for r in 0..m {
            let mut acc = 0f32;
            for (xv, wv) in x[r * k..(r + 1) * k].iter().zip(&w) {
                acc += xv * wv;
            }
            out[r * n + j] = acc * scale + bias.map_or(0.0, |b| b[j]);
        }
    }
    out
}

/// `acc[r][j] = Σ_kk a[r·lda + kk] · panel[kk·NR + j]` for `r < rows` (rows beyond read row 0 again: harmless,
/// never stored). Each lane adds its products in `kk` order, multiply then add, so the SIMD and the scalar
/// version give the same bits.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn micro_kernel(a: &[f32], lda: usize, k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    use core::arch::wasm32::*;
    assert!(panel.len() >= k * NR && a.len() >= (rows - 1) * lda + k);
    // Row offsets, clamped so that missing rows repeat the last real one (in bounds).
    let r = |i: usize| i.min(rows - 1) * lda;
    let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
    let ap = a.as_ptr();
    let bp = panel.as_ptr();
    // SAFETY: the asserts above bound every read: rows r0..r3 < rows, kk < k, panel reads < k·NR.
    unsafe {
        let (mut c00, mut c01, mut c10, mut c11) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        let (mut c20, mut c21, mut c30, mut c31) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        for kk in 0..k {
            let b0 = v128_load(bp.add(kk * NR) as *const v128);
            let b1 = v128_load(bp.add(kk * NR + 4) as *const v128);
            let a0 = v128_load32_splat(ap.add(r0 + kk) as *const u32);
            c00 = f32x4_add(c00, f32x4_mul(a0, b0));
            c01 = f32x4_add(c01, f32x4_mul(a0, b1));
            let a1 = v128_load32_splat(ap.add(r1 + kk) as *const u32);
            c10 = f32x4_add(c10, f32x4_mul(a1, b0));
            c11 = f32x4_add(c11, f32x4_mul(a1, b1));
            let a2 = v128_load32_splat(ap.add(r2 + kk) as *const u32);
            c20 = f32x4_add(c20, f32x4_mul(a2, b0));
            c21 = f32x4_add(c21, f32x4_mul(a2, b1));
            let a3 = v128_load32_splat(ap.add(r3 + kk) as *const u32);
            c30 = f32x4_add(c30, f32x4_mul(a3, b0));
            c31 = f32x4_add(c31, f32x4_mul(a3, b1));
        }
        let out = acc.as_mut_ptr() as *mut f32;
        for (i, v) in [c00, c01, c10, c11, c20, c21, c30, c31].into_iter().enumerate() {
            v128_store(out.add(i * 4) as *mut v128, v);
        }
    }
}

/// [`micro_kernel`] for the last one or two rows of a product, `acc[0..2]` only: half the work of a 4-row call
/// (CLIP's 50 image tokens end in a 2-row block; a 14-token caption batch too).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn micro_kernel_2(a: &[f32], lda: usize, k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    use core::arch::wasm32::*;
    assert!(panel.len() >= k * NR && a.len() >= (rows - 1) * lda + k && rows <= 2);
    let (r0, r1) = (0, (rows - 1) * lda);
    let ap = a.as_ptr();
    let bp = panel.as_ptr();
    // SAFETY: the assert above bounds every read, as in `micro_kernel`.
    unsafe {
        let (mut c00, mut c01, mut c10, mut c11) = (f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0), f32x4_splat(0.0));
        for kk in 0..k {
            let b0 = v128_load(bp.add(kk * NR) as *const v128);
            let b1 = v128_load(bp.add(kk * NR + 4) as *const v128);
            let a0 = v128_load32_splat(ap.add(r0 + kk) as *const u32);
            c00 = f32x4_add(c00, f32x4_mul(a0, b0));
            c01 = f32x4_add(c01, f32x4_mul(a0, b1));
            let a1 = v128_load32_splat(ap.add(r1 + kk) as *const u32);
            c10 = f32x4_add(c10, f32x4_mul(a1, b0));
            c11 = f32x4_add(c11, f32x4_mul(a1, b1));
        }
        let out = acc.as_mut_ptr() as *mut f32;
        for (i, v) in [c00, c01, c10, c11].into_iter().enumerate() {
            v128_store(out.add(i * 4) as *mut v128, v);
        }
    }
}

/// Natively the scalar kernel serves every row count.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn micro_kernel_2(a: &[f32], lda: usize, k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    micro_kernel(a, lda, k, rows, panel, acc)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn micro_kernel(a: &[f32], lda: usize, k: usize, rows: usize, panel: &[f32], acc: &mut [[f32; NR]; MR]) {
    for (r, acc_row) in acc.iter_mut().enumerate() {
        let row = &a[r.min(rows - 1) * lda..][..k];
        for (kk, &x) in row.iter().enumerate() {
            let b = &panel[kk * NR..kk * NR + NR];
            for j in 0..NR {
                acc_row[j] += x * b[j];
            }
        }
    }
}

/// A product whose operands stay in L1 (16 × 128 times 128 × 32, 26 kB in all), `calls` times, through the same
/// panel loop and micro-kernel as every matmul: the throughput ceiling the benchmark reads its GFLOP/s against.
/// Returns a checksum (so that the work is not optimised away) and the FLOPs done (a multiply and an add per product).
#[cfg(feature = "bench")]
pub fn in_cache_product_loop(calls: usize) -> (f32, f64) {
    let (m, k, n) = (16, 128, 32);
    let mut a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.01).collect();
    let weight: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.01).collect();
    let packed = pack(&weight, n, k);
    let mut out = vec![0f32; m * n];
    let mut sum = 0.0;
    for i in 0..calls {
        // A different input each call (from the loop counter, not from the last output, so that calls do not wait
        // for each other): no call can be skipped or hoisted out of the loop.
        a[i % (m * k)] = i as f32 * 1e-9;
        matmul_packed(&a, k, m, k, &packed, n, None, 1.0, &mut out, n);
        sum += out[i % (m * n)];
    }
    (sum, (calls * 2 * m * n * k) as f64)
}

/// What [`attention_heads`] returns, row-major: `probs` `[b, heads, n, n]`, `queries` and `keys`
/// `[b, heads, n, d]`, `context` `[b, n, heads·d]`.
pub struct HeadsOutput {
    pub probs: Vec<f32>,
    pub queries: Vec<f32>,
    pub keys: Vec<f32>,
    pub context: Vec<f32>,
}

/// Multi-head scaled dot-product attention on the projections `q`, `k`, `v` (`[b, n, heads·d]` each), with an
/// optional additive `[n, n]` mask: per head, softmax(q·kᵀ·scale + mask)·v, both products through the packed
/// micro-kernel (keys and values packed per head, a copy the head split makes anyway). This replaces candle's
/// head split copies, one gemm call per head and product (each with its own packing and set-up, which dominates
/// at a few tokens), the separate scale, mask and softmax passes and the merge copy.
#[allow(clippy::too_many_arguments)]
pub fn attention_heads(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    b: usize,
    n: usize,
    heads: usize,
    d: usize,
    scale: f32,
    mask: Option<&[f32]>,
) -> HeadsOutput {
    let h = heads * d;
    let mut out = HeadsOutput {
        probs: vec![0f32; b * heads * n * n],
        queries: vec![0f32; b * heads * n * d],
        keys: vec![0f32; b * heads * n * d],
        context: vec![0f32; b * n * h],
    };
    let mut packed_k = vec![0f32; n.div_ceil(NR) * d * NR];
    let mut packed_v = vec![0f32; d.div_ceil(NR) * n * NR];
    for bi in 0..b {
        for hd in 0..heads {
            let head = (bi * heads + hd) * n;
            let col = hd * d;
            // Split this head out of the projections (the captured queries and keys).
            for i in 0..n {
                let src = (bi * n + i) * h + col;
                out.queries[(head + i) * d..(head + i + 1) * d].copy_from_slice(&q[src..src + d]);
                out.keys[(head + i) * d..(head + i + 1) * d].copy_from_slice(&k[src..src + d]);
            }
            let keys = &out.keys[head * d..(head + n) * d];
            packed_k.iter_mut().for_each(|x| *x = 0.0);
            for (j, row) in keys.chunks_exact(d).enumerate() {
                let panel = &mut packed_k[(j / NR) * d * NR..];
                for (t, &x) in row.iter().enumerate() {
                    panel[t * NR + j % NR] = x;
                }
            }
            // scores = scale · q·kᵀ, straight into this head's block of the probabilities.
            let probs = &mut out.probs[head * n..(head + n) * n];
            matmul_packed(&out.queries[head * d..], d, n, d, &packed_k, n, None, scale, probs, n);
            for (i, row) in probs.chunks_exact_mut(n).enumerate() {
                if let Some(mask) = mask {
                    row.iter_mut().zip(&mask[i * n..(i + 1) * n]).for_each(|(x, m)| *x += m);
                }
                softmax_in_place(row);
            }
            // context = probs · v: v's head columns, packed as the "weight" whose rows are output columns.
            packed_v.iter_mut().for_each(|x| *x = 0.0);
            for j in 0..n {
                let src = (bi * n + j) * h + col;
                for (c, &x) in v[src..src + d].iter().enumerate() {
                    packed_v[(c / NR) * n * NR + j * NR + c % NR] = x;
                }
            }
            let ctx = &mut out.context[bi * n * h + col..];
            matmul_packed(probs, n, n, n, &packed_v, d, None, 1.0, ctx, h);
        }
    }
    out
}

/// Softmax of one row in place: max-shifted exp (a masked −∞ gives exactly 0), divided by the sum.
fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for x in row.iter_mut() {
        let e = if *x == f32::NEG_INFINITY { 0.0 } else { exp_fast(*x - max) };
        *x = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|x| *x *= inv);
}

/// erf(x) for f32, Eigen's rational approximation (`generic_fast_erf_float`): |error| below 1e-6 everywhere,
/// only multiplies, adds and one divide, so loops over it vectorise.
#[inline(always)]
pub fn erf_fast(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_599_8e-3;
    p = p * x2 + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329_3e-3;
    q = q * x2 + -1.426_473_9e-2;
    p / q
}

/// transformers' "gelu" (`x · ½(1 + erf(x/√2))`), in place.
pub fn gelu_erf_in_place(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        let v = *x;
        *x = 0.5 * v * (1.0 + erf_fast(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// e^x for f32 (Cephes' `expf`: range reduction to 2^n · e^r, |r| ≤ ½ln2, and a degree-6 polynomial; within
/// 2 ulp), without libm's branches so that loops over it vectorise.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    // ln 2 split in two so that x - n·ln2 is exact enough.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// CLIP's quick GELU, `x · σ(1.702x)`, in place.
pub fn quick_gelu_in_place(xs: &mut [f32]) {
    for x in xs.iter_mut() {
        let v = *x;
        *x = v / (1.0 + exp_fast(-1.702 * v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn erf_fast_is_within_1e_6_of_libm() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((erf_fast(x) - libm_erf(x)).abs());
        }
        assert!(worst < 1e-6, "max |erf_fast - erf| = {worst}");
    }

    #[test]
    fn attention_heads_match_candle() {
        let dev = Device::Cpu;
        for &(b, n, heads, d, masked) in &[(1, 5, 2, 8, false), (2, 9, 3, 4, true), (1, 17, 4, 12, true)] {
            let h = heads * d;
            let [q, k, v] = [0, 1, 2].map(|_| Tensor::randn(0f32, 1.0, (b, n, h), &dev).unwrap());
            let split = |t: &Tensor| t.reshape((b, n, heads, d)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap();
            let (qs, ks, vs) = (split(&q), split(&k), split(&v));
            let scale = 1.0 / (d as f64).sqrt();
            let mut scores = (qs.matmul(&ks.t().unwrap()).unwrap() * scale).unwrap();
            // The causal mask (as `nn::causal_mask`, written out so the kernels do not depend on the layers).
            let causal: Vec<f32> =
                (0..n).flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
            let mask = Tensor::from_vec(causal, (n, n), &dev).unwrap();
            if masked {
                scores = scores.broadcast_add(&mask).unwrap();
            }
            let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
            let context = probs.matmul(&vs).unwrap().transpose(1, 2).unwrap().reshape((b, n, h)).unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let mask_values = flat(&mask);
            let got = attention_heads(&flat(&q), &flat(&k), &flat(&v), b, n, heads, d, scale as f32,
                masked.then_some(mask_values.as_slice()));
            let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert_eq!(worst(&got.queries, &flat(&qs)), 0.0);
            assert_eq!(worst(&got.keys, &flat(&ks)), 0.0);
            assert!(worst(&got.probs, &flat(&probs)) < 1e-6, "probs b {b} n {n}");
            assert!(worst(&got.context, &flat(&context)) < 1e-5, "context b {b} n {n}");
        }
    }

    #[test]
    fn exp_fast_is_within_3_ulp_of_std() {
        for i in -87_000..=87_900 {
            let x = i as f32 * 1e-3;
            let (got, want) = (exp_fast(x), x.exp());
            assert!(((got - want) / want).abs() < 3.0 * f32::EPSILON, "exp({x}) = {got}, want {want}");
        }
    }

    fn libm_erf(x: f32) -> f32 {
        // libm's f64 erf, through candle.
        candle_core::cpu::erf::erf_f64(x as f64) as f32
    }

    /// f16 and int8 panels: exactly the plain-loop product of the widened weights (same sums in the same order),
    /// for every row tail of the 4-row micro-kernel and column tails of the 8-wide panels.
    #[test]
    fn compact_kernels_compute_exactly_the_reference_product() {
        let dev = Device::Cpu;
        for &(k, n) in &[(37, 21), (8, 8), (64, 3), (1, 17)] {
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let bias = Tensor::randn(0f32, 1.0, n, &dev).unwrap().to_vec1::<f32>().unwrap();
            for precision in [Precision::F16, Precision::Int8] {
                let matrix = CompactMatrix::from_f32(w.clone(), n, k, precision).unwrap();
                let layer = PackedLinear::from_matrix(matrix.clone(), Some(bias.clone())).unwrap();
                assert_eq!(layer.precision(), precision);
                for m in 1..=9 {
                    let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
                    let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let got = layer.forward_packed(&x, None).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let want = reference_product(&xs, m, &matrix, Some(&bias));
                    assert_eq!(got, want, "{precision:?} k {k} n {n} m {m}");
                    // Natively `forward` widens for candle's matmul instead: the same values, summed in another order.
                    let native = layer.forward(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let d = native.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                    assert!(d < 1e-4, "{precision:?} k {k} n {n} m {m}: native path max |Δ| {d:e}");
                }
            }
        }
    }

    #[test]
    fn packed_kernel_matches_candle() {
        let dev = Device::Cpu;
        for &(m, k, n, bias) in &[(1, 3, 1, true), (5, 17, 13, true), (16, 32, 64, false), (7, 40, 9, true)] {
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
            let linear = Linear::new(w, bias.then_some(b));
            let x = Tensor::randn(0f32, 1.0, (2, m, k), &dev).unwrap();
            let want = linear.forward(&x).unwrap();
            let packed = PackedLinear::new(linear).unwrap();
            let got = packed.forward_packed(&x, None).unwrap();
            assert_eq!(got.dims(), want.dims());
            let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "m {m} k {k} n {n}: max |Δ| = {diff}");
            let q = packed.forward_packed(&x, Some(Activation::QuickGelu)).unwrap();
            let q_want = Activation::QuickGelu.forward(&want).unwrap();
            let diff = (q - q_want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "quick gelu m {m} k {k} n {n}: max |Δ| = {diff}");
            let g = packed.forward_packed(&x, Some(Activation::Gelu)).unwrap();
            let g_want = want.gelu_erf().unwrap();
            let diff = (g - g_want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "gelu m {m} k {k} n {n}: max |Δ| = {diff}");
        }
    }
}
