// Timings of what a student waits for, in the release app (headless Chromium, inference in the worker, weights
// from the loopback hub). Not a test: prints figures. Run by scripts/bench_app.sh.
//   - attention lab, MiniLM: press Run → head view drawn, 16 and 128 tokens (first run includes download + load)
//   - model view at 128 tokens
//   - heads off: click a head → rerun → views redrawn, MiniLM 16 tokens
//   (BENCH_APP_ONLY=attention: the attention lab's figures only, no CLIP)
//   - CLIP lab on a full-depth ViT-B/32-shaped CLIP (synthetic weights): Classify → probabilities, 2 and 8 captions
import { join, resolve } from 'node:path';
import { setup, makeHubRoot, watchedPage, MINILM_DIR, MINILM_REPO, CLIP_REPO, REPO } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';

const fullClip = resolve(process.argv[2]);
const env = await setup({ hub: false });
const attentionOnly = process.env.BENCH_APP_ONLY === 'attention';
const hub = await startHub({ root: await makeHubRoot({ [MINILM_REPO]: MINILM_DIR, ...(attentionOnly ? {} : { [CLIP_REPO]: fullClip }) }) });
const url = `${env.site.url}?hub=${encodeURIComponent(hub.url)}`;
const page = await watchedPage(env.context);
await page.goto(url);

const words = 'the history of natural language processing started in the fifties with machine translation and rules'.split(' ');
const sentence = (tokens) => Array.from({ length: tokens - 2 }, (_, i) => words[i % words.length]).join(' ');
async function attention(tokens) {
  await page.locator('#text-a').fill(sentence(tokens));
  const t0 = Date.now();
  await page.locator('#run').click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=head-view] text.token.left').length === n
    && (document.querySelector('[data-testid=head-view] line') || document.querySelector('[data-testid=head-view][data-render=canvas]')),
  tokens, { timeout: 120_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return Date.now() - t0;
}
const first = await attention(16);
const warm16 = [];
for (let i = 0; i < 3; i++) warm16.push(await attention(16 + (i % 2)));
const warm128 = [];
for (let i = 0; i < 3; i++) warm128.push(await attention(128 - (i % 2)));
// Warm start: a new page (and worker) whose MiniLM comes from IndexedDB.
const minilmBytes = (await import('node:fs')).statSync(join(MINILM_DIR, 'model.safetensors')).size;
const loadFigures = async (statusSelector) => {
  const s = await page.locator(statusSelector).first().textContent();
  const m = s.match(/model loaded in (\d+) ms · worker memory ([\d.]+) (MB|GB)/);
  if (!m) throw new Error(`no load figures in the status: ${s}`);
  return { ms: Number(m[1]), memory: Number(m[2]) * (m[3] === 'GB' ? 1e9 : 1e6) };
};
const model = await page.evaluate(async () => {
  const t0 = performance.now();
  document.querySelector('[data-testid=model-view]').scrollIntoView();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
});
// Heads off (#16): click a head in the "Switch heads off" grid → the model reruns without it → every view redrawn.
// The first click also runs the all-heads-on baseline (two forwards); the others toggle one head off and on again.
await attention(16);
async function toggleHead(layer, head) {
  const cell = `[data-testid=off-cell][data-layer="${layer}"][data-head="${head}"]`;
  const was = await page.locator(cell).getAttribute('aria-pressed');
  const t0 = Date.now();
  await page.locator(cell).click();
  await page.waitForFunction(([sel, w]) => document.querySelector(sel)?.getAttribute('aria-pressed') !== w
    && !document.querySelector(sel)?.disabled && document.querySelector('[data-testid=head-view] line'), [cell, was], { timeout: 60_000 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return Date.now() - t0;
}
const firstOff = await toggleHead(0, 3);
const toggles = [];
for (let i = 0; i < 10; i++) toggles.push(await toggleHead(2, 5));
await toggleHead(0, 3);
// The permalink in the URL restores the sentence (16 tokens) and runs it, as a student's bookmark would.
await attention(16);
const t0 = Date.now();
await page.reload();
await page.waitForFunction(() => document.querySelector('[data-testid=attention-status]')?.textContent.includes('model loaded in')
  && document.querySelector('[data-testid=head-view] line'), null, { timeout: 120_000 });
const warmStart = Date.now() - t0;
const minilmLoad = await loadFigures('[data-testid=attention-status]');
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`app attention MiniLM first run (download 91 MB + load + forward + draw), 16 tokens: ${first} ms`);
console.log(`app attention MiniLM run → head view drawn, 16 tokens: ${med(warm16)} ms (median of 3)`);
console.log(`app attention MiniLM run → head view drawn, 128 tokens: ${med(warm128)} ms (median of 3)`);
console.log(`app model view at 128 tokens, on screen after: ${model.toFixed(0)} ms more`);
console.log(`app heads off, MiniLM 16 tokens: click → model rerun → views redrawn: ${med(toggles)} ms (median of ${toggles.length}, min ${Math.min(...toggles)}, max ${Math.max(...toggles)}); the first click, which also runs the all-heads-on baseline: ${firstOff} ms`);
console.log(`app MiniLM warm start (new page, weights from IndexedDB), run → head view: ${warmStart} ms; of which reading ${(minilmBytes / 1e6).toFixed(1)} MB from IndexedDB into a ready model: ${minilmLoad.ms} ms; worker wasm memory after: ${(minilmLoad.memory / 1e6).toFixed(0)} MB = ${(minilmLoad.memory / minilmBytes).toFixed(2)} × the weights`);

if (attentionOnly) {
  await hub.close();
  await env.close();
  process.exit(0);
}
await page.locator('#tab-clip').click();
await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures/images/chelsea.png'));
const captions8 = ['a photo of a cat', 'a photo of a dog', 'a kitten', 'a tiger', 'a lion', 'a fox', 'a plush toy', 'a painting of a cat'];
async function classify(captions) {
  // One at a time: each removal redraws the list.
  while (await page.locator('.caption-row button[aria-label^="remove"]').count()) {
    await page.locator('.caption-row button[aria-label^="remove"]').first().click();
  }
  for (let i = 0; i < captions.length; i++) {
    await page.getByRole('button', { name: 'Add caption' }).click();
    await page.locator('input.caption').nth(i).fill(captions[i]);
  }
  const status = 'section[aria-label="CLIP lab"] > .status';
  const before = await page.locator(status).textContent();
  const t0 = Date.now();
  await page.locator('#classify').click();
  // Each answer names its caption count and time, so a new answer changes the text.
  await page.waitForFunction(([sel, b]) => {
    const s = document.querySelector(sel)?.textContent ?? '';
    return (s !== b && s.includes('captions scored')) || document.querySelector('section[aria-label="CLIP lab"] [role=alert]');
  }, [status, before], { timeout: 600_000 });
  const alert = page.locator('section[aria-label="CLIP lab"] [role=alert]');
  if (await alert.count()) throw new Error(`CLIP lab says: ${await alert.first().textContent()}`);
  return Date.now() - t0;
}
const clipFirst = await classify(captions8.slice(0, 2));
const clipBytes = (await import('node:fs')).statSync(join(fullClip, 'model.safetensors')).size;
const clipStatus = 'section[aria-label="CLIP lab"] > .status';
const clipDownload = await loadFigures(clipStatus);
// A new page and worker: the 600 MB checkpoint now comes from IndexedDB.
await page.reload();
await page.locator('#tab-clip').click();
await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures/images/chelsea.png'));
const clipWarm = await classify(captions8.slice(0, 2));
const clipLoad = await loadFigures(clipStatus);
const clip2 = [], clip8 = [];
for (let i = 0; i < 3; i++) clip2.push(await classify(captions8.slice(0, 2)));
for (let i = 0; i < 3; i++) clip8.push(await classify(captions8));
console.log(`app CLIP B/32 (full depth) first classify (download ${(hub.stats().bytesSent / 1e6).toFixed(0)} MB total + load + forward): ${clipFirst} ms`);
console.log(`app CLIP B/32 (${(clipBytes / 1e6).toFixed(0)} MB) download + store + load: ${clipDownload.ms} ms; worker wasm memory after: ${(clipDownload.memory / 1e6).toFixed(0)} MB = ${(clipDownload.memory / clipBytes).toFixed(2)} × the weights`);
console.log(`app CLIP B/32 warm (new page), classify → probabilities: ${clipWarm} ms; of which reading from IndexedDB into a ready model: ${clipLoad.ms} ms; worker wasm memory after: ${(clipLoad.memory / 1e6).toFixed(0)} MB = ${(clipLoad.memory / clipBytes).toFixed(2)} × the weights`);
console.log(`app CLIP B/32 classify → probabilities, 1 image + 2 captions: ${med(clip2)} ms (median of 3)`);
console.log(`app CLIP B/32 classify → probabilities, 1 image + 8 captions: ${med(clip8)} ms (median of 3)`);
if (page.problems.length) console.log('page problems:', page.problems);
await hub.close();
await env.close();
