// onnxruntime-web (wasm backend; one thread unless the request says `threads`) timing its own runs, for tests/e2e/bench-vs-ort.mjs.
importScripts('ort/ort.wasm.min.js');
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
ort.env.wasm.wasmPaths = new URL('ort/', self.location.href).href;

const ids = (rows) => {
  const n = Math.max(...rows.map((r) => r.length));
  // Pad with each row's last id (<|endoftext|> for CLIP, as our engine pads); causal masking makes it harmless.
  const data = BigInt64Array.from(rows.flatMap((r) => [...r, ...Array(n - r.length).fill(r[r.length - 1])].map(BigInt)));
  return new ort.Tensor('int64', data, [rows.length, n]);
};

onmessage = async (e) => {
  const { model, kind, cases, runs, warmup, warmup_ms = 0, threads = 1 } = e.data;
  // More than one thread needs a cross-origin isolated page (onnxruntime-web then starts its own pthread workers).
  ort.env.wasm.numThreads = threads;
  try {
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
    const load_ms = performance.now() - t0;
    const results = [];
    for (const c of cases) {
      const feeds = kind === 'clip'
        ? { input_ids: ids(c.input_ids), pixel_values: new ort.Tensor('float32', Float32Array.from(c.pixel_values), [1, 3, 224, 224]) }
        : { input_ids: ids(c.input_ids), token_type_ids: new ort.Tensor('int64', new BigInt64Array(c.input_ids[0].length), [1, c.input_ids[0].length]) };
      // Every output is fetched (the attentions included), as the app needs them.
      const run = async () => {
        const out = await session.run(feeds);
        let sum = 0;
        for (const name of session.outputNames) sum += out[name].data[0];
        return sum;
      };
      const s = performance.now();
      await run();
      const first_ms = performance.now() - s;
      // As ours: at least `warmup` runs and `warmup_ms` (V8 tiers hot wasm up in the background).
      for (let i = 1; i < warmup || performance.now() - s < warmup_ms; i++) await run();
      const runs_ms = [];
      for (let i = 0; i < runs; i++) {
        const s = performance.now();
        await run();
        runs_ms.push(performance.now() - s);
      }
      results.push({ first_ms, runs_ms });
    }
    await session.release();
    postMessage({ load_ms, results });
  } catch (err) {
    postMessage({ error: String(err && err.stack || err) });
  }
};
