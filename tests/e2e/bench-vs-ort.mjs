// Our release wasm (in the app's worker, its `bench` build: scripts/build_bench_worker.sh) against onnxruntime-web (wasm backend, 1 thread) on the same weights and
// inputs, in one headless Chromium. Not a test: prints a table and `target ...` lines. Run by scripts/bench.sh:
//   node tests/e2e/bench-vs-ort.mjs MINILM_DIR BERT_BASE_DIR CLIP_DIR ONNX_DIR
// ONNX_DIR holds minilm.onnx, bert-base.onnx, clip-b32.onnx (scripts/export_onnx.py of the same three folders).
// BENCH_WORKER: the bench worker's folder (worker.js, and threads/ for the threaded one), served as bench-worker/.
import { chromium } from 'playwright-core';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, REPO, makeHubRoot, MINILM_REPO } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';
import { ISOLATION_HEADERS, startStatic } from '../../scripts/static-server.mjs';

const [minilmDir, bertDir, clipDir, onnxDir] = process.argv.slice(2);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const WARMUP = 2;
// …and at least this long: V8 runs wasm from its baseline compiler first and tiers hot functions up to the
// optimising one in the background; on two cores the first model's first case was still partly baseline code.
const WARMUP_MS = 1000;
const BERT_REPO = 'nlu-lab-bench/bert-base-synthetic';
const CLIP_REPO = 'nlu-lab-bench/clip-b32-full-synthetic';

// One site root: the built app (so the bench page shares the app's origin, hence its IndexedDB weights store),
// the bench worker (the site's own worker has no benchmark requests), the bench page, onnxruntime-web's files and
// the ONNX exports. Symlinks only.
const root = await mkdtemp(join(tmpdir(), 'nlu-bench-site-'));
// BENCH_DIST: another build of the site (e.g. an older commit's, for a before/after).
const dist = process.env.BENCH_DIST ?? DIST;
for (const f of await readdir(dist)) await symlink(join(dist, f), join(root, f));
const benchWorker = process.env.BENCH_WORKER;
if (!benchWorker) throw new Error('BENCH_WORKER is not set: run scripts/bench.sh (it builds the bench worker)');
await symlink(benchWorker, join(root, 'bench-worker'));
for (const f of ['bench.html', 'ort-worker.js']) await symlink(join(REPO, 'tests/e2e/bench-page', f), join(root, f));
await symlink(join(REPO, 'node_modules/onnxruntime-web/dist'), join(root, 'ort'));
await symlink(onnxDir, join(root, 'onnx'));
const site = await startStatic({ root });
// The same files, cross-origin isolated (COOP/COEP), for the 2-thread runs of both runtimes. Another origin: the
// weights are stored again in its IndexedDB on the first run (load time, not timed in the runs).
const siteIso = await startStatic({ root, headers: ISOLATION_HEADERS });
const hubRoot = await makeHubRoot({ [MINILM_REPO]: minilmDir, [BERT_REPO]: bertDir, [CLIP_REPO]: clipDir });
const hub = await startHub({ root: hubRoot });
const userDataDir = await mkdtemp(join(tmpdir(), 'nlu-bench-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const page = await context.newPage();
page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
// "Failed to load resource" repeats what the response check below says, with the URL.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console.error: ${m.text()}`); });
page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
await page.goto(`${site.url}bench.html`);

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0] };
};
const source = (repo) => ({ hub: hub.url, repo, revision: 'main' });
const bertIds = (n) => [101, ...Array.from({ length: n - 2 }, (_, i) => 1000 + ((i * 37) % 20000)), 102];
const captions8 = ['a photo of a cat', 'a photo of a dog', 'a kitten', 'a tiger', 'a lion', 'a fox', 'a plush toy', 'a painting of a cat'];

const rows = [];
const memory = [];
async function model({ label, repo, onnx, kind, cases }) {
  const ours = [];
  for (const c of cases) {
    const req = { ...source(repo), kind, runs: RUNS, warmup: WARMUP, warmup_ms: WARMUP_MS, ...c.input };
    if (kind === 'clip') req.pixel_values = await page.evaluate(() => window.pixels());
    const t0 = Date.now();
    const answer = await page.evaluate((r) => window.runOurs(r), req);
    process.stderr.write(`[bench] ours ${label} ${c.name}: ${stats(answer.runs_ms).median.toFixed(1)} ms (request ${Date.now() - t0} ms, load ${answer.load_ms.toFixed(0)} ms)\n`);
    ours.push({ ...answer, pixel_values: req.pixel_values });
  }
  const last = ours[ours.length - 1];
  memory.push({ label, weight: last.weight_bytes, afterLoad: last.memory_after_load, peak: Math.max(...ours.map((o) => o.memory_bytes)) });
  const ort = await page.evaluate((r) => window.runOrt(r), {
    model: `onnx/${onnx}`, kind, runs: RUNS, warmup: WARMUP, warmup_ms: WARMUP_MS,
    cases: ours.map((o) => ({ input_ids: o.input_ids, pixel_values: o.pixel_values })),
  });
  process.stderr.write(`[bench] onnxruntime-web ${label}: session ${ort.load_ms.toFixed(0)} ms\n`);
  cases.forEach((c, i) => {
    const o = stats(ours[i].runs_ms), r = stats(ort.results[i].runs_ms);
    rows.push({ name: `${label} ${c.name}`, key: c.key, flops: ours[i].flops, ours: o, ort: r });
  });
}

await model({
  label: 'MiniLM-L6', repo: MINILM_REPO, onnx: 'minilm.onnx', kind: 'attention',
  cases: [16, 64, 128].map((n) => ({ name: `seq ${n}`, key: `MiniLM seq ${n}`, input: { ids: bertIds(n) } })),
});
await model({
  label: 'bert-base', repo: BERT_REPO, onnx: 'bert-base.onnx', kind: 'attention',
  cases: [16, 64, 128].map((n) => ({ name: `seq ${n}`, key: `bert-base seq ${n}`, input: { ids: bertIds(n) } })),
});
await model({
  label: 'CLIP B/32', repo: CLIP_REPO, onnx: 'clip-b32.onnx', kind: 'clip',
  cases: [2, 8].map((k) => ({ name: `1 image + ${k} captions`, key: `CLIP ${k} captions`, input: { captions: captions8.slice(0, k) } })),
});

// The per-op profile of one bert-base-shaped layer inside our worker (candle's path next to ours).
const profile = [];
try {
  for (const n of [16, 64, 128]) {
    profile.push(await page.evaluate((r) => window.runOurs(r), { ...source(BERT_REPO), kind: 'ops', ids: bertIds(n), runs: RUNS, warmup: WARMUP }));
  }
} catch (e) {
  process.stderr.write(`[bench] no per-op profile from this build: ${e.message}\n`);
}

// Warm start, in the app itself: open the page with a permalink (it runs straight away), MiniLM's weights already
// in IndexedDB (the bench above stored them under the app's own repo and revision) → head view drawn. The first
// visit is not counted: it installs the offline app shell (web/sw.js), as a student's first visit does, so the
// counted ones are second visits (shell from the cache; the threaded worker where the page is isolated).
const words = 'the history of natural language processing started in the fifties with machine translation and rules'.split(' ');
const text = Array.from({ length: 14 }, (_, i) => words[i % words.length]).join(' ');
const warm = [];
for (let i = 0; i < 6; i++) {
  const app = await context.newPage();
  app.on('pageerror', (e) => problems.push(`app uncaught: ${e.message}`));
  const t0 = Date.now();
  await app.goto(`${site.url}index.html?${new URLSearchParams({ hub: hub.url, model: MINILM_REPO, text })}`);
  await app.waitForFunction(() => document.querySelectorAll('[data-testid=head-view] text.token.left').length > 0
    && document.querySelector('[data-testid=head-view] line'), null, { timeout: 120_000 });
  await app.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  if (i > 0) warm.push(Date.now() - t0);
  else await app.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await app.close();
}

const f1 = (x) => x.toFixed(1);
const gf = (flops, ms) => (flops / (ms / 1e3) / 1e9).toFixed(1);
const ortVersion = JSON.parse(await readFile(join(REPO, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version;
const browser = await page.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0]);
console.log(`\nnlu-lab (release wasm, app worker) vs onnxruntime-web ${ortVersion} (wasm, numThreads 1), ${browser} headless;` +
  ` ${RUNS} runs after ${WARMUP} warm-up runs and at least ${WARMUP_MS} ms of warm-up; each runtime in its own Web Worker, one at a time`);
console.log('GFLOP/s = 2·m·n·k over all matmuls / median. speedup = onnxruntime-web median / ours median.\n');
const head = ['case', 'ours med', 'ours min', 'ours GF/s', 'ort med', 'ort min', 'ort GF/s', 'speedup'];
const line = (cols) => cols.map((c, i) => (i === 0 ? String(c).padEnd(34) : String(c).padStart(10))).join('');
console.log(line(head));
for (const r of rows) {
  console.log(line([r.name, f1(r.ours.median), f1(r.ours.min), gf(r.flops, r.ours.median), f1(r.ort.median), f1(r.ort.min),
    gf(r.flops, r.ort.median), (r.ort.median / r.ours.median).toFixed(2) + '×']));
}
if (profile.length) {
  console.log('\nprofile, one bert-base-shaped layer in our worker (median ms; a forward pass runs 12 of these):');
  console.log(line(['op', ...profile.map((p) => `seq ${p.seq}`)]));
  for (const op of Object.keys(profile[0].ops_ms)) console.log(line([op, ...profile.map((p) => p.ops_ms[op].toFixed(2))]));
}
console.log('');
for (const m of memory) {
  console.log(`memory ${m.label}: weights ${(m.weight / 2 ** 20).toFixed(0)} MiB, wasm memory after load ${(m.afterLoad / 2 ** 20).toFixed(0)} MiB, ` +
    `peak ${(m.peak / 2 ** 20).toFixed(0)} MiB = ${(m.peak / m.weight).toFixed(2)} × weights`);
}
const warmStats = stats(warm);

// Threads: ours (the threaded bench worker, bench-worker/threads/) and onnxruntime-web on a cross-origin isolated page, next to the
// one-thread figures above. BENCH_THREADS=2 by default; skipped (loudly) when the bench worker has no threads/.
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const threadRows = [];
const threadCases = [
  { key: 'bert-base seq 64', repo: BERT_REPO, onnx: 'bert-base.onnx', kind: 'attention', input: { ids: bertIds(64) } },
  { key: 'bert-base seq 128', repo: BERT_REPO, onnx: 'bert-base.onnx', kind: 'attention', input: { ids: bertIds(128) } },
  { key: 'CLIP 2 captions', repo: CLIP_REPO, onnx: 'clip-b32.onnx', kind: 'clip', input: { captions: captions8.slice(0, 2) } },
  { key: 'CLIP 8 captions', repo: CLIP_REPO, onnx: 'clip-b32.onnx', kind: 'clip', input: { captions: captions8.slice(0, 8) } },
];
const hasThreads = await readdir(join(benchWorker, 'threads')).then(() => true, () => false);
if (!hasThreads) {
  console.log(`\nNO THREADED BUILD in ${benchWorker}/threads: the 2-thread comparison is skipped (scripts/build_bench_worker.sh).`);
} else {
  const iso = await context.newPage();
  iso.on('pageerror', (e) => problems.push(`iso uncaught: ${e.message}`));
  iso.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`iso console.error: ${m.text()}`); });
  await iso.goto(`${siteIso.url}bench.html`);
  if (!(await iso.evaluate(() => crossOriginIsolated))) throw new Error('the isolated bench page is not cross-origin isolated');
  for (const c of threadCases) {
    const req = { ...source(c.repo), kind: c.kind, runs: RUNS, warmup: WARMUP, warmup_ms: WARMUP_MS, ...c.input };
    if (c.kind === 'clip') req.pixel_values = await iso.evaluate(() => window.pixels());
    const ours = await iso.evaluate(([r, t]) => window.runOurs(r, t), [req, THREADS]);
    if (ours.threads !== THREADS) throw new Error(`the threaded worker ran on ${ours.threads} threads, not ${THREADS}`);
    const ort = await iso.evaluate((r) => window.runOrt(r), {
      model: `onnx/${c.onnx}`, kind: c.kind, runs: RUNS, warmup: WARMUP, warmup_ms: WARMUP_MS, threads: THREADS,
      cases: [{ input_ids: ours.input_ids, pixel_values: req.pixel_values }],
    });
    const one = rows.find((x) => x.key === c.key);
    threadRows.push({ key: c.key, flops: ours.flops, ours1: one.ours, ours2: stats(ours.runs_ms), ort1: one.ort, ort2: stats(ort.results[0].runs_ms) });
    process.stderr.write(`[bench] ${THREADS} threads ${c.key}: ours ${stats(ours.runs_ms).median.toFixed(1)} ms, ort ${stats(ort.results[0].runs_ms).median.toFixed(1)} ms\n`);
  }
  await iso.close();
}
console.log(`warm start MiniLM (open app page with a permalink → weights from IndexedDB → head view drawn): median ${warmStats.median} ms, min ${warmStats.min} ms of ${warm.length}`);
if (threadRows.length) {
  console.log(`\nthreads: 1 thread (the page as above; ours = the single-threaded worker) vs ${THREADS} threads (cross-origin isolated` +
    ` page; ours = the threaded worker threads/, onnxruntime-web numThreads ${THREADS}); median ms, GFLOP/s, speed-up = 1 thread / ${THREADS} threads`);
  const tline = (cols) => cols.map((c, i) => (i === 0 ? String(c).padEnd(20) : String(c).padStart(9))).join('');
  console.log(tline(['case', 'ours 1T', 'GF/s', `ours ${THREADS}T`, 'GF/s', 'speed-up', 'ort 1T', 'GF/s', `ort ${THREADS}T`, 'GF/s', 'speed-up', `ort/ours ${THREADS}T`]));
  for (const r of threadRows) {
    console.log(tline([r.key, f1(r.ours1.median), gf(r.flops, r.ours1.median), f1(r.ours2.median), gf(r.flops, r.ours2.median),
      (r.ours1.median / r.ours2.median).toFixed(2) + '×', f1(r.ort1.median), gf(r.flops, r.ort1.median), f1(r.ort2.median),
      gf(r.flops, r.ort2.median), (r.ort1.median / r.ort2.median).toFixed(2) + '×', (r.ort2.median / r.ours2.median).toFixed(2) + '×']));
  }
}
if (problems.length) console.log('page problems:', problems);
console.log('');
const target = (key, name) => {
  const r = rows.find((x) => x.key === key);
  console.log(`target ${name}: ours ${f1(r.ours.median)} ms, onnxruntime-web ${f1(r.ort.median)} ms, speedup ${(r.ort.median / r.ours.median).toFixed(2)}`);
};
target('bert-base seq 64', 'bert-base seq 64');
target('MiniLM seq 16', 'MiniLM seq 16');
target('CLIP 2 captions', 'CLIP 2 captions');
target('CLIP 8 captions', 'CLIP 8 captions');
console.log(`target MiniLM warm start: ${warmStats.median} ms`);
// The worst model: the target is about every model the app loads.
const worst = memory.reduce((a, b) => (b.peak / b.weight > a.peak / a.weight ? b : a));
console.log(`target peak memory ratio: ${(worst.peak / worst.weight).toFixed(2)} x (${worst.label})`);
for (const r of threadRows) {
  console.log(`threads ${r.key}: ours ${THREADS} threads ${f1(r.ours2.median)} ms, speed-up ${(r.ours1.median / r.ours2.median).toFixed(2)} over 1 thread;` +
    ` onnxruntime-web ${THREADS} threads ${f1(r.ort2.median)} ms, speed-up ${(r.ort1.median / r.ort2.median).toFixed(2)}`);
}

await context.close();
await site.close();
await siteIso.close();
await hub.close();
await rm(userDataDir, { recursive: true, force: true });
await rm(hubRoot, { recursive: true, force: true });
await rm(root, { recursive: true, force: true });
