// CLIP ViT-B/32 in full precision and packed (`nlu-lab pack`), in the release app: bytes on the wire, the worker's
// memory once the model is loaded, and the time to score 2 and 8 captions. Each precision gets its own browser
// (a fresh worker and store), all open at once; the scoring runs go round the precisions in turn (A B C A B C ...),
// so that a busy moment of a shared machine falls on all of them alike. Not a test: prints figures. Run by
// scripts/bench_compact.sh with the synthetic full-size CLIP and its packs.
//
// The folders are served under CLIP B/32's catalogue name from a loopback hub, so the app treats them as a
// download of another version of the pinned file (quarantined, flagged as not verified): the path a course mirror
// serving packs would take today.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setup, makeHubRoot, watchedPage, CLIP_REPO, REPO } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';

const RUNS = Number(process.env.NLU_LAB_BENCH_RUNS ?? 7);
const cases = process.argv.slice(2).map((arg) => {
  const [name, dir] = arg.split('=');
  return { name, dir: resolve(dir) };
});
const CAPTIONS = {
  2: ['a photo of a cat', 'a photo of a dog'],
  8: ['a photo of a cat', 'a photo of a dog', 'a colourful painting', 'a chessboard', 'static noise',
    'a sunset over the sea', 'a diagram with circles', 'a blurry photo'],
};
const status = 'section[aria-label="CLIP lab"] > .status';

async function classify(c, captions) {
  const { page } = c;
  const inputs = page.locator('input.caption');
  while (await inputs.count() < captions.length) await page.getByRole('button', { name: 'Add caption' }).click();
  while (await inputs.count() > captions.length) await page.getByRole('button', { name: /^remove caption/ }).last().click();
  for (const [i, text] of captions.entries()) await inputs.nth(i).fill(text);
  const before = await page.locator(status).textContent();
  await page.locator('#classify').click();
  await page.waitForFunction(([sel, old]) => {
    const s = document.querySelector(sel)?.textContent ?? '';
    return (s !== old && /captions scored in \d+ ms/.test(s)) || document.querySelector('[role=alert]');
  }, [status, before], { timeout: 600_000 });
  const alert = page.locator('[role=alert]');
  if (await alert.count()) throw new Error(`${c.name}: the app says ${await alert.first().textContent()}`);
  return page.locator(status).textContent();
}

for (const c of cases) {
  c.bytes = (await stat(join(c.dir, 'model.safetensors'))).size;
  c.hubRoot = await makeHubRoot({ [CLIP_REPO]: c.dir });
  c.hub = await startHub({ root: c.hubRoot });
  c.env = await setup({ hub: false });
  c.page = await watchedPage(c.env.context);
  await c.page.goto(`${c.env.site.url}?hub=${encodeURIComponent(c.hub.url)}`);
  await c.page.locator('#tab-clip').click();
  await c.page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures/images/chelsea.png'));
  const first = await classify(c, CAPTIONS[2]);
  const m = first.match(/model loaded in (\d+) ms · worker memory ([\d.]+) (MB|GB)/);
  if (!m) throw new Error(`${c.name}: no load figures in "${first}"`);
  c.loadMs = Number(m[1]);
  c.memoryMB = Number(m[2]) * (m[3] === 'GB' ? 1000 : 1);
  c.times = { 2: [], 8: [] };
}
for (let run = 0; run < RUNS; run++) {
  for (const n of [2, 8]) {
    for (const c of cases) {
      const text = await classify(c, CAPTIONS[n]);
      c.times[n].push(Number(text.match(/captions scored in (\d+) ms/)[1]));
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`CLIP ViT-B/32 (synthetic weights of the real shape) in the release app, headless Chromium; ${RUNS} turns`);
console.log('precision   weights MB  worker memory MB  loaded in ms  2 captions ms (median, min)  8 captions ms (median, min)  8 captions vs first');
for (const c of cases) {
  const ratio = median(c.times[8]) / median(cases[0].times[8]);
  console.log(`${c.name.padEnd(10)}${(c.bytes / 1e6).toFixed(1).padStart(12)}${c.memoryMB.toFixed(0).padStart(18)}${String(c.loadMs).padStart(14)}`
    + `${`${median(c.times[2])}, ${Math.min(...c.times[2])}`.padStart(29)}${`${median(c.times[8])}, ${Math.min(...c.times[8])}`.padStart(29)}${ratio.toFixed(2).padStart(20)}`);
}
for (const c of cases) {
  await c.env.close();
  await c.hub.close();
}
