//! The packer's calibration (native only): while [`capture`] runs a model, every named linear layer
//! ([`super::kernels::PackedLinear::named`], which `compact::linear` and CLIP's patch embedding set) adds its input
//! rows `X` to a Gram matrix `XᵀX` kept under its weight's tensor name. GPTQ ([`super::gptq`]) weighs each layer's
//! rounding errors by that matrix. Outside [`capture`] (and always in wasm, which has no such code) a layer only
//! checks an empty thread-local.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};

/// One layer's inputs, summed: `XᵀX` `[inputs, inputs]` (f32) over `rows` input rows.
pub struct Gram {
    pub xtx: Tensor,
    pub rows: usize,
}

struct Recorder {
    /// Only these weights' inputs (all when `None`): the packer may calibrate a large model in groups of layers.
    wanted: Option<Vec<String>>,
    grams: HashMap<String, Gram>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Called by a named layer with its input `x` `[.., inputs]`: added to its Gram matrix while [`capture`] runs.
pub fn record(name: &str, x: &Tensor) -> Result<()> {
    RECORDER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(recorder) = slot.as_mut() else { return Ok(()) };
        if recorder.wanted.as_ref().is_some_and(|w| !w.iter().any(|n| n == name)) {
            return Ok(());
        }
        let k = x.dim(x.rank() - 1)?;
        let rows = x.elem_count() / k.max(1);
        let x = x.to_dtype(DType::F32)?.reshape((rows, k))?;
        let xtx = x.t()?.matmul(&x)?;
        match recorder.grams.get_mut(name) {
            Some(g) => {
                g.xtx = (&g.xtx + xtx)?;
                g.rows += rows;
            }
            None => {
                recorder.grams.insert(name.to_string(), Gram { xtx, rows });
            }
        }
        Ok(())
    })
}

/// Run `f` (which runs a model on calibration inputs) recording the inputs of the layers named in `wanted` (all
/// named layers when `None`); their Gram matrices by weight name.
pub fn capture(wanted: Option<Vec<String>>, f: impl FnOnce() -> crate::engine::Result<()>) -> crate::engine::Result<HashMap<String, Gram>> {
    RECORDER.with(|cell| *cell.borrow_mut() = Some(Recorder { wanted, grams: HashMap::new() }));
    let result = f();
    let recorder = RECORDER.with(|cell| cell.borrow_mut().take()).expect("set above");
    result.map(|_| recorder.grams)
}
