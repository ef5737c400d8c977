//! Pillow's resize, sample for sample: `ImagingResample` for 8-bit images
//! (https://github.com/python-pillow/Pillow/blob/main/src/libImaging/Resample.c).

use serde::{Deserialize, Serialize};

/// Pillow's resampling filters that `preprocessor_config.json` may name by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resample {
    /// `resample: 2`.
    Bilinear,
    /// `resample: 3`, what CLIP uses.
    Bicubic,
    /// `resample: 1`.
    Lanczos,
}

impl Resample {
    pub fn from_pil(code: u64) -> Option<Self> {
        Some(match code {
            1 => Self::Lanczos,
            2 => Self::Bilinear,
            3 => Self::Bicubic,
            _ => return None,
        })
    }

    fn support(self) -> f64 {
        match self {
            Self::Bilinear => 1.0,
            Self::Bicubic => 2.0,
            Self::Lanczos => 3.0,
        }
    }

    fn filter(self, x: f64) -> f64 {
        match self {
            Self::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Self::Bicubic => {
                // Keys' cubic with a = -0.5, as Pillow.
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Self::Lanczos => {
                let sinc = |x: f64| {
                    if x == 0.0 {
                        1.0
                    } else {
                        let x = x * std::f64::consts::PI;
                        x.sin() / x
                    }
                };
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// Pillow's bits of fixed-point precision for 8-bit resampling coefficients.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's `precompute_coeffs` for one output sample `out` of an `in_size` → `out_size` resize, followed by
/// `normalize_coeffs_8bpc`: the first input sample used and the fixed-point weights.
fn coefficients(in_size: usize, out_size: usize, filter: Resample, out: usize) -> (usize, Vec<i32>) {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let center = (out as f64 + 0.5) * scale;
    let ss = 1.0 / filterscale;
    // C's (int) casts truncate toward zero, as Rust's `as` does.
    let xmin = ((center - support + 0.5) as i64).max(0);
    let xmax = ((center + support + 0.5) as i64).min(in_size as i64) - xmin;
    let weights: Vec<f64> = (0..xmax.max(0)).map(|x| filter.filter(((x + xmin) as f64 - center + 0.5) * ss)).collect();
    let total: f64 = weights.iter().sum();
    let one = (1u32 << PRECISION_BITS) as f64;
    let fixed = weights
        .iter()
        .map(|&w| {
            let w = if total != 0.0 { w / total } else { w };
            if w < 0.0 {
                (-0.5 + w * one) as i32
            } else {
                (0.5 + w * one) as i32
            }
        })
        .collect();
    (xmin as usize, fixed)
}

#[inline]
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Pillow's two-pass resize of an RGB image (`src_w`×`src_h`, rows of `[r, g, b]`) to `out_w`×`out_h`,
/// computing only the window `[left, left + win_w) × [top, top + win_h)` of the result.
#[allow(clippy::too_many_arguments)]
pub fn resample_window(
    src: &[u8],
    src_w: usize,
    src_h: usize,
    out_w: usize,
    out_h: usize,
    left: usize,
    top: usize,
    win_w: usize,
    win_h: usize,
    filter: Resample,
) -> Vec<u8> {
    let identity = |i: usize| (i, vec![1i32 << PRECISION_BITS]);
    // Pillow skips a pass whose size does not change; the identity weight reproduces that exactly.
    let columns: Vec<(usize, Vec<i32>)> = (left..left + win_w)
        .map(|x| if out_w == src_w { identity(x) } else { coefficients(src_w, out_w, filter, x) })
        .collect();
    let rows: Vec<(usize, Vec<i32>)> = (top..top + win_h)
        .map(|y| if out_h == src_h { identity(y) } else { coefficients(src_h, out_h, filter, y) })
        .collect();
    let first_row = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let end_row = rows.iter().map(|r| r.0 + r.1.len()).max().unwrap_or(0);

    // Horizontal pass over the source rows the window needs, rounded to 8 bits as Pillow's temporary image.
    let half = 1i64 << (PRECISION_BITS - 1);
    let mut temp = vec![0u8; (end_row - first_row) * win_w * 3];
    for (y, out_row) in (first_row..end_row).zip(temp.chunks_exact_mut(win_w * 3)) {
        let src_row = &src[y * src_w * 3..(y + 1) * src_w * 3];
        for ((xmin, k), out) in columns.iter().zip(out_row.chunks_exact_mut(3)) {
            let mut acc = [half; 3];
            for (px, &k) in src_row[xmin * 3..(xmin + k.len()) * 3].chunks_exact(3).zip(k) {
                for c in 0..3 {
                    acc[c] += px[c] as i64 * k as i64;
                }
            }
            out.copy_from_slice(&[clip8(acc[0]), clip8(acc[1]), clip8(acc[2])]);
        }
    }
    // Vertical pass.
    let mut out = vec![0u8; win_h * win_w * 3];
    for ((ymin, k), out_row) in rows.iter().zip(out.chunks_exact_mut(win_w * 3)) {
        let mut acc = vec![half; win_w * 3];
        for (dy, &k) in k.iter().enumerate() {
            let row = &temp[(ymin - first_row + dy) * win_w * 3..(ymin - first_row + dy + 1) * win_w * 3];
            acc.iter_mut().zip(row).for_each(|(a, &v)| *a += v as i64 * k as i64);
        }
        out_row.iter_mut().zip(&acc).for_each(|(o, &a)| *o = clip8(a));
    }
    out
}
