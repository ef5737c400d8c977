// onnxruntime-web (wasm backend) in a worker that stays warm, for tests/e2e/bench-vs-ort.mjs: `load` creates the
// session once (threads: its numThreads; more than one needs a cross-origin isolated page), then each `run` times
// `runs` runs of one case (after `warmup` runs and `warmup_ms`; none when both are 0: one timed run of a pair).
importScripts('ort/ort.wasm.min.js');
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL('ort/', self.location.href).href;

let session = null;

const ids = (rows) => {
  const n = Math.max(...rows.map((r) => r.length));
  // Pad with each row's last id (<|endoftext|> for CLIP, as our engine pads); causal masking makes it harmless.
  const data = BigInt64Array.from(rows.flatMap((r) => [...r, ...Array(n - r.length).fill(r[r.length - 1])].map(BigInt)));
  return new ort.Tensor('int64', data, [rows.length, n]);
};

/** The inputs of one case, as the session's graph names them (an export may also take attention_mask, all ones). */
function feeds(kind, c) {
  const input_ids = ids(c.input_ids);
  const [rows, n] = input_ids.dims;
  const f = { input_ids };
  if (session.inputNames.includes('attention_mask')) f.attention_mask = new ort.Tensor('int64', new BigInt64Array(rows * n).fill(1n), [rows, n]);
  if (kind === 'clip') f.pixel_values = new ort.Tensor('float32', Float32Array.from(c.pixel_values), [1, 3, 224, 224]);
  else f.token_type_ids = new ort.Tensor('int64', new BigInt64Array(rows * n), [rows, n]);
  return f;
}

onmessage = async (e) => {
  const { op } = e.data;
  try {
    if (op === 'load') {
      const { model, threads = 1 } = e.data;
      ort.env.wasm.numThreads = threads;
      const t0 = performance.now();
      session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      postMessage({ load_ms: performance.now() - t0, inputs: session.inputNames });
    } else if (op === 'run') {
      const { kind, case: c, runs, warmup = 0, warmup_ms = 0 } = e.data;
      const f = feeds(kind, c);
      // Every output is fetched (the attentions included), as the app needs them.
      const run = async () => {
        const out = await session.run(f);
        let sum = 0;
        for (const name of session.outputNames) sum += out[name].data[0];
        return sum;
      };
      const s = performance.now();
      for (let i = 0; i < warmup || (warmup_ms > 0 && performance.now() - s < warmup_ms); i++) await run();
      const runs_ms = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await run();
        runs_ms.push(performance.now() - t);
      }
      postMessage({ runs_ms });
    } else if (op === 'release') {
      await session?.release();
      session = null;
      postMessage({});
    } else {
      throw new Error(`unknown op ${op}`);
    }
  } catch (err) {
    postMessage({ error: String((err && err.stack) || err) });
  }
};
