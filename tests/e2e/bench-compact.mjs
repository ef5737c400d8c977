// A model in full precision and packed (`nlu-lab pack`), in the release app: bytes on the wire, the worker's memory
// once the model is loaded, and the time to score 2 and 8 captions (CLIP ViT-B/32) or to run 16 and 64 tokens
// (MiniLM, in the attention lab; the forward pass as the status line reports it). Each precision gets its own browser
// (a fresh worker and store), all open at once; the scoring runs go round the precisions in turn (A B C A B C ...),
// so that a busy moment of a shared machine falls on all of them alike. Not a test: prints figures. Run by
// scripts/bench_compact.sh with the synthetic full-size CLIP and its packs.
//
// The folders are served under CLIP B/32's catalogue name from a loopback hub, so the app treats them as a
// download of another version of the pinned file (quarantined, flagged as not verified): the path a course mirror
// serving packs would take today.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setup, makeHubRoot, watchedPage, CLIP_REPO, MINILM_REPO, REPO } from './harness.mjs';
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
// Words that are one WordPiece each: n tokens are [CLS], n - 2 words, [SEP].
const WORDS = 'the cat sat on the mat and the dog ran to the park while a bird sang in the old tree'.split(' ');
const sentence = (tokens) => Array.from({ length: tokens - 2 }, (_, i) => WORDS[i % WORDS.length]).join(' ');
const SIZES = { clip: [2, 8], encoder: [16, 64] };

async function attention(c, tokens) {
  const { page } = c;
  const sel = '[data-testid=attention-status]';
  await page.locator('#text-a').fill(sentence(tokens));
  const before = await page.locator(sel).textContent();
  await page.locator('#run').click();
  await page.waitForFunction(([sel, old]) => {
    const s = document.querySelector(sel)?.textContent ?? '';
    return (s !== old && /forward pass \d+ ms/.test(s)) || document.querySelector('[role=alert]');
  }, [sel, before], { timeout: 600_000 });
  const alert = page.locator('[role=alert]');
  if (await alert.count()) throw new Error(`${c.name}: the app says ${await alert.first().textContent()}`);
  const text = await page.locator(sel).textContent();
  const count = Number(text.match(/^(\d+) tokens/)?.[1]);
  if (count !== tokens) throw new Error(`${c.name}: ${count} tokens, not ${tokens}: ${text}`);
  return text;
}
const run = (c, n) => (c.family === 'clip' ? classify(c, CAPTIONS[n]) : attention(c, n));
const timeOf = (text) => Number(text.match(/(?:captions scored in|forward pass) (\d+) ms/)[1]);

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
  const config = JSON.parse(await readFile(join(c.dir, 'config.json'), 'utf8'));
  c.family = config.model_type === 'clip' ? 'clip' : 'encoder';
  c.hubRoot = await makeHubRoot({ [c.family === 'clip' ? CLIP_REPO : MINILM_REPO]: c.dir });
  c.hub = await startHub({ root: c.hubRoot });
  c.env = await setup({ hub: false });
  c.page = await watchedPage(c.env.context);
  await c.page.goto(`${c.env.site.url}?hub=${encodeURIComponent(c.hub.url)}`);
  if (c.family === 'clip') {
    await c.page.locator('#tab-clip').click();
    await c.page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures/images/chelsea.png'));
  }
  const first = await run(c, SIZES[c.family][0]);
  const m = first.match(/model loaded in (\d+) ms · worker memory ([\d.]+) (MB|GB)/);
  if (!m) throw new Error(`${c.name}: no load figures in "${first}"`);
  c.loadMs = Number(m[1]);
  c.memoryMB = Number(m[2]) * (m[3] === 'GB' ? 1000 : 1);
  c.times = Object.fromEntries(SIZES[c.family].map((n) => [n, []]));
}
const family = cases[0].family;
for (let turn = 0; turn < RUNS; turn++) {
  for (const n of SIZES[family]) {
    for (const c of cases) c.times[n].push(timeOf(await run(c, n)));
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [small, large] = SIZES[family];
const unit = family === 'clip' ? 'captions' : 'tokens';
console.log(family === 'clip'
  ? `CLIP ViT-B/32 (synthetic weights of the real shape) in the release app, headless Chromium; ${RUNS} turns`
  : `MiniLM-L6 (the real all-MiniLM-L6-v2) in the release app's attention lab, headless Chromium; ${RUNS} turns`);
console.log(`precision   weights MB  worker memory MB  loaded in ms  ${small} ${unit} ms (median, min)  ${large} ${unit} ms (median, min)  ${large} ${unit} vs first`);
for (const c of cases) {
  const ratio = median(c.times[large]) / median(cases[0].times[large]);
  console.log(`${c.name.padEnd(10)}${(c.bytes / 1e6).toFixed(1).padStart(12)}${c.memoryMB.toFixed(0).padStart(18)}${String(c.loadMs).padStart(14)}`
    + `${`${median(c.times[small])}, ${Math.min(...c.times[small])}`.padStart(29)}${`${median(c.times[large])}, ${Math.min(...c.times[large])}`.padStart(29)}${ratio.toFixed(2).padStart(20)}`);
}
for (const c of cases) {
  await c.env.close();
  await c.hub.close();
}
