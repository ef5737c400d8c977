// Exports at 512 tokens, in headless Chromium. Not a test: prints figures. Run by scripts/bench_export.sh.
//   node tests/e2e/bench-export.mjs DIR [--app]
// DIR: the files of `nlu-lab-dev export-bench --out DIR` (synthetic attention, MiniLM 6 × 12 and bert-base 12 × 12
// shapes): each standalone page is opened from file:// with the network off; printed: the time from navigation to
// its first complete draw (the page's `nlu-lab:first-draw` mark, then two frames), its decode and draw times,
// a layer change, and the tab's JS heap.
// --app (needs dist/ and the real MiniLM): a 512-token MiniLM run in the app, then its JSON and standalone HTML
// export buttons: time to the download, file sizes, and the page's wasm memory before and after (wasm memory
// never shrinks, so "after" is the peak).
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setup, watchedPage } from './harness.mjs';

const dir = resolve(process.argv[2] ?? '');
const withApp = process.argv.includes('--app');
const env = await setup(withApp ? {} : { hub: false, root: dir, entry: 'minilm.html', build: 'nlu-lab-dev export-bench --out DIR' });
const mb = (b) => (b / 1e6).toFixed(1);
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/** The tab's JS memory: the V8 heap and the ArrayBuffers' backing stores (the decoded Float32Array lives there). */
async function heap(page) {
  const cdp = await page.context().newCDPSession(page);
  const { usedSize, backingStorageSize } = await cdp.send('Runtime.getHeapUsage');
  await cdp.detach();
  return `JS heap ${mb(usedSize)} MB + array buffers ${mb(backingStorageSize)} MB`;
}

await env.context.setOffline(true);
for (const shape of ['minilm', 'bert-base']) {
  const file = join(dir, `${shape}.html`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run nlu-lab-dev export-bench --out ${dir}`);
  for (const query of ['', '?decoder=atob']) {
    const page = await watchedPage(env.context);
    await page.goto(`file://${file}${query}`, { timeout: 600_000 });
    await page.waitForFunction(() => window.nluLabAttention, null, { timeout: 600_000 });
    await frames(page);
    const r = await page.evaluate(() => ({
      ...window.nluLabAttention.firstDraw,
      decoder: window.nluLabAttention.decoder,
      mark: performance.getEntriesByName('nlu-lab:first-draw')[0].startTime,
      painted: performance.now(),
      n: window.nluLabAttention.meta.tokens.length,
    }));
    const used = await heap(page);
    const t0 = Date.now();
    await page.locator('#layer').selectOption('3');
    await frames(page);
    const layerMs = Date.now() - t0;
    console.log(`standalone ${shape} ${r.n} tokens (${mb(statSync(file).size)} MB, ${r.decoder}): first draw ${r.mark.toFixed(0)} ms after navigation `
      + `(decode ${r.decodeMs.toFixed(0)} ms, draw ${r.drawMs.toFixed(0)} ms, on ${r.render}), painted by ${r.painted.toFixed(0)} ms; `
      + `layer change ${layerMs} ms; ${used}`);
    if (page.problems.length) console.log('page problems:', page.problems);
    await page.close();
  }
}
await env.context.setOffline(false);

if (withApp) {
  const page = await watchedPage(env.context);
  // The page's own wasm memory: Trunk's loader announces the instance.
  await page.addInitScript(() => addEventListener('TrunkApplicationStarted', (e) => { window.appWasmMemory = e.detail.wasm.memory; }));
  await page.goto(env.appUrl());
  const text = Array.from({ length: 60 }, (_, i) => `Sentence ${i} says that attention heads look at other words.`).join(' ');
  await page.locator('#text-a').fill(text);
  await page.locator('#run').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=head-view] text.token.left').length === 512, null, { timeout: 300_000 });
  await frames(page);
  const wasmBytes = () => page.evaluate(() => window.appWasmMemory?.buffer.byteLength ?? NaN);
  const before = await wasmBytes();
  const status = await page.getByTestId('attention-status').textContent();
  for (const id of ['export-json', 'export-html']) {
    const t0 = Date.now();
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), page.getByTestId(id).click()]);
    const ms = Date.now() - t0;
    const size = statSync(await dl.path()).size;
    console.log(`app MiniLM 512 tokens ${id}: ${mb(size)} MB in ${ms} ms; page wasm memory ${mb(before)} MB before the exports, ${mb(await wasmBytes())} MB after; ${await heap(page)}`);
  }
  console.log(`app status: ${status}`);
  if (page.problems.length) console.log('page problems:', page.problems);
}
await env.close();
