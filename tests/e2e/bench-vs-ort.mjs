// Our release wasm (in the app's worker, its `bench` build: scripts/build_bench_worker.sh) against onnxruntime-web
// (wasm backend) on the same weights and inputs, in one headless Chromium. Not a test: prints figures and
// `target ...` lines. Run by scripts/bench.sh:
//   node tests/e2e/bench-vs-ort.mjs MINILM_DIR BERT_BASE_DIR CLIP_DIR ONNX_DIR
// ONNX_DIR holds two exports of each model (scripts/export_onnx.py): minilm.onnx, bert-base.onnx, clip-b32.onnx and
// the same with `-mask` (an attention_mask input too). BENCH_WORKER: the bench worker's folder (worker.js, and
// threads/ for the threaded one), served as bench-worker/.
//
// How it measures, on a shared two-core machine whose speed moves by a third from one minute to the next: each
// runtime in its own warm worker (the model loaded once, then warmed up), the runtimes taking turns run by run (the
// order rotating from pair to pair), BENCH_PAIRS rounds per case. A case's figure is the median of the per-round
// ratios onnxruntime-web ms / ours ms, with a bootstrap 95 % interval: a slow minute slows both sides of a round.
// The CPU that other processes used during each case is read from /proc and a case above 0.15 cores is marked.
import { chromium } from 'playwright-core';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, REPO, makeHubRoot, MINILM_REPO } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';
import { ISOLATION_HEADERS, startStatic } from '../../scripts/static-server.mjs';

const [minilmDir, bertDir, clipDir, onnxDir] = process.argv.slice(2);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 30);
// Before a case's rounds, each side runs at least this long: V8 runs wasm from its baseline compiler first and
// tiers hot functions up to the optimising one in the background, which takes a while on two cores.
const WARMUP = 2;
const WARMUP_MS = 1000;
const BUSY_CORES = 0.15;
const BERT_REPO = 'nlu-lab-bench/bert-base-synthetic';
const CLIP_REPO = 'nlu-lab-bench/clip-b32-full-synthetic';
const THREADS = Number(process.env.BENCH_THREADS ?? 2);

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
// The same files, cross-origin isolated (COOP/COEP), for the 2-thread runs. Another origin: the weights are stored
// again in its IndexedDB on the first run (load time, not timed in the runs).
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
function watch(page, what) {
  page.on('pageerror', (e) => problems.push(`${what} uncaught: ${e.message}`));
  // "Failed to load resource" repeats what the response check says, with the URL.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${what} console.error: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${what} HTTP ${r.status()} for ${r.url()}`); });
  return page;
}
const page = watch(await context.newPage(), 'page');
await page.goto(`${site.url}bench.html`);

// ---- figures -------------------------------------------------------------------------------------------------
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => {
  const s = sorted(xs);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stats = (xs) => ({ median: median(xs), min: Math.min(...xs) });
/** The median of `xs` with a percentile bootstrap 95 % interval (2 000 resamples, a fixed seed: reruns agree). */
function bootstrap(xs) {
  let seed = 0x2545f491;
  const random = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0) / 2 ** 32);
  const medians = [];
  for (let b = 0; b < 2000; b++) medians.push(median(Array.from(xs, () => xs[Math.floor(random() * xs.length)])));
  const s = sorted(medians);
  return { median: median(xs), lower: s[Math.floor(0.025 * s.length)], upper: s[Math.ceil(0.975 * s.length) - 1] };
}

// ---- background CPU, from /proc --------------------------------------------------------------------------------
const TICKS = 100; // USER_HZ on Linux
/** Busy CPU ticks of the whole machine (user, nice, system, irq, softirq, steal). */
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
}
/** CPU ticks of this node process and everything under it (Chromium, its renderers and their worker threads). */
function ownTicks() {
  const procs = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* gone */ }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of procs) if (!mine.has(pid) && mine.has(p.ppid)) { mine.add(pid); grew = true; }
  }
  let t = 0;
  for (const pid of mine) t += procs.get(pid)?.ticks ?? 0;
  return t;
}
/** Start measuring; the returned function gives the cores other processes used meanwhile. */
function background() {
  const [m0, o0, t0] = [machineTicks(), ownTicks(), Date.now()];
  return () => Math.max(0, (machineTicks() - m0 - (ownTicks() - o0)) / TICKS / ((Date.now() - t0) / 1e3));
}

// ---- the cases -------------------------------------------------------------------------------------------------
const source = (repo) => ({ hub: hub.url, repo, revision: 'main' });
const bertIds = (n) => [101, ...Array.from({ length: n - 2 }, (_, i) => 1000 + ((i * 37) % 20000)), 102];
const captions8 = ['a photo of a cat', 'a photo of a dog', 'a kitten', 'a tiger', 'a lion', 'a fox', 'a plush toy', 'a painting of a cat'];
const MODELS = [
  { label: 'MiniLM-L6', repo: MINILM_REPO, onnx: 'minilm', kind: 'attention',
    cases: [16, 64].map((n) => ({ key: `MiniLM seq ${n}`, input: { ids: bertIds(n) } })) },
  { label: 'bert-base', repo: BERT_REPO, onnx: 'bert-base', kind: 'attention',
    cases: [64, 128].map((n) => ({ key: `bert-base seq ${n}`, input: { ids: bertIds(n) } })) },
  { label: 'CLIP B/32', repo: CLIP_REPO, onnx: 'clip-b32', kind: 'clip',
    cases: [2, 8].map((k) => ({ key: `CLIP ${k} captions`, input: { captions: captions8.slice(0, k) } })) },
];
const EXPORTS = [['plain', ''], ['mask', '-mask']];
// BENCH_ONLY=MiniLM (a part of a model's label): only that model's cases, for a quick look after a change.
const chosen = MODELS.filter((m) => m.label.includes(process.env.BENCH_ONLY ?? ''));

/**
 * One model's cases on `p`: `sides` are the runtimes that take turns, each `{ name, open(), run(c, warm) }` where
 * run gives one timed run's ms (or warms up). Returns per case every side's per-round ms and the background.
 */
async function measure(p, model, sides) {
  const out = [];
  for (const s of sides) await s.open(model);
  for (const c of model.cases) {
    const input = { ...c.input };
    if (model.kind === 'clip') input.pixel_values = await p.evaluate(() => window.pixels());
    const info = {};
    for (const s of sides) info[s.name] = await s.run(model, input, true);
    const times = Object.fromEntries(sides.map((s) => [s.name, []]));
    const busy = background();
    for (let i = 0; i < PAIRS; i++) {
      // The order rotates from round to round, so that no side always runs first (or just after the other).
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(i + j) % sides.length];
        times[s.name].push((await s.run(model, input, false)).ms);
      }
    }
    out.push({ key: c.key, times, info, background: busy() });
    process.stderr.write(`[bench] ${c.key}: ${sides.map((s) => `${s.name} ${median(times[s.name]).toFixed(1)} ms`).join(', ')}\n`);
  }
  for (const s of sides) await s.close();
  return out;
}

/** Our worker as a side: `threads` wasm threads (the threaded bench worker when > 1). */
function oursSide(p, name, threads) {
  return {
    name,
    open: () => p.evaluate(([n, t]) => window.openOurs(n, t), [name, threads]),
    async run(model, input, warm) {
      const req = { ...source(model.repo), kind: model.kind, ...input, runs: 1, warmup: warm ? WARMUP : 0, warmup_ms: warm ? WARMUP_MS : 0 };
      const a = await p.evaluate(([n, r]) => window.ours(n, r), [name, req]);
      if (a.threads !== threads) throw new Error(`${name} ran on ${a.threads} threads, not ${threads}`);
      // onnxruntime-web gets the very ids this run used (CLIP tokenizes its captions here).
      input.input_ids = model.kind === 'clip' ? a.input_ids : [input.ids];
      return { ms: a.runs_ms[0], flops: a.flops, load_ms: a.load_ms, weight_bytes: a.weight_bytes, memory_after_load: a.memory_after_load, memory_bytes: a.memory_bytes };
    },
    close: () => p.evaluate((n) => window.closeWorker(n), name),
  };
}

/** onnxruntime-web on one export (`suffix`) as a side. */
function ortSide(p, name, suffix, threads) {
  return {
    name,
    open: (model) => p.evaluate(([n, m, t]) => window.openOrt(n, m, t), [name, `onnx/${model.onnx}${suffix}.onnx`, threads]),
    async run(model, input, warm) {
      const req = { kind: model.kind, case: { input_ids: input.input_ids, pixel_values: input.pixel_values },
        runs: 1, warmup: warm ? WARMUP : 0, warmup_ms: warm ? WARMUP_MS : 0 };
      const a = await p.evaluate(([n, r]) => window.ort(n, r), [name, req]);
      return { ms: a.runs_ms[0] };
    },
    close: () => p.evaluate((n) => window.closeWorker(n), name),
  };
}

/** A case's report: ours against onnxruntime-web's faster export (by its median), per-round ratios. */
function compare(r, ours, orts) {
  const best = orts.reduce((a, b) => (median(r.times[b]) < median(r.times[a]) ? b : a));
  const ratios = r.times[best].map((t, i) => t / r.times[ours][i]);
  return { best, ratio: bootstrap(ratios), ours: stats(r.times[ours]), ort: stats(r.times[best]), others: orts.filter((o) => o !== best).map((o) => [o, stats(r.times[o])]) };
}

// 1 thread: ours first in the rotation (it also fixes the inputs), then both exports.
const single = [];
for (const model of chosen) {
  const sides = [oursSide(page, 'ours', 1), ...EXPORTS.map(([n, s]) => ortSide(page, `ort ${n}`, s, 1))];
  // Each model in a fresh worker, so that its memory figure is its own.
  for (const r of await measure(page, model, sides)) single.push({ ...r, model: model.label });
}

// Our per-op profile of one bert-base-shaped layer (candle's path next to ours), and the SIMD128 micro-kernel's
// peak with its data in cache: the physical limit the GFLOP/s column is read against.
await page.evaluate(([n, t]) => window.openOurs(n, t), ['profile', 1]);
const profile = [];
for (const n of [16, 64, 128]) {
  profile.push(await page.evaluate(([w, r]) => window.ours(w, r), ['profile', { ...source(BERT_REPO), kind: 'ops', ids: bertIds(n), runs: 10, warmup: WARMUP, warmup_ms: 300 }]));
}
const peak = await page.evaluate(([w, r]) => window.ours(w, r), ['profile', { ...source(BERT_REPO), kind: 'peak', runs: 5, warmup: 1, warmup_ms: WARMUP_MS }]);
await page.evaluate((n) => window.closeWorker(n), 'profile');

// 2 threads on the cross-origin isolated page: ours on 2 threads and on 1 (the speed-up), onnxruntime-web on 2.
let threaded = [];
const hasThreads = await readdir(join(benchWorker, 'threads')).then(() => true, () => false);
if (hasThreads) {
  const iso = watch(await context.newPage(), 'isolated page');
  await iso.goto(`${siteIso.url}bench.html`);
  if (!(await iso.evaluate(() => crossOriginIsolated))) throw new Error('the isolated bench page is not cross-origin isolated');
  for (const model of chosen) {
    const sides = [oursSide(iso, `ours ${THREADS}T`, THREADS), oursSide(iso, 'ours 1T', 1),
      ...EXPORTS.map(([n, s]) => ortSide(iso, `ort ${n} ${THREADS}T`, s, THREADS))];
    for (const r of await measure(iso, model, sides)) threaded.push({ ...r, model: model.label });
  }
  await iso.close();
}

// Warm start, in the app itself: open the page with a permalink (it runs straight away), MiniLM's weights already
// in IndexedDB (the bench above stored them under the app's own repo and revision) → head view drawn, with the
// timeline the app marks (performance marks nlu-lab:*, the worker's own figures in the result's mark). The first
// visit is not counted: it installs the offline app shell (web/sw.js), as a student's first visit does.
const words = 'the history of natural language processing started in the fifties with machine translation and rules'.split(' ');
const text = Array.from({ length: 14 }, (_, i) => words[i % words.length]).join(' ');
const warm = [];
for (let i = 0; i < 8; i++) {
  const app = watch(await context.newPage(), 'app');
  await app.goto(`${site.url}index.html?${new URLSearchParams({ hub: hub.url, model: MINILM_REPO, text })}`);
  await app.waitForFunction(() => document.querySelectorAll('[data-testid=head-view] text.token.left').length > 0
    && document.querySelector('[data-testid=head-view] line'), null, { timeout: 120_000 });
  const t = await app.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => {
    const mark = (name) => performance.getEntriesByName(`nlu-lab:${name}`).at(-1);
    const result = mark('attention-result');
    r({ drawn: performance.now(), page: mark('page-wasm')?.startTime, worker: mark('worker-ready')?.startTime,
      result: result?.startTime, ...(result?.detail ?? {}) });
  }))));
  if (i > 0) warm.push(t);
  else await app.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await app.close();
}

// ---- the report ------------------------------------------------------------------------------------------------
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);
const gf = (flops, ms) => flops / (ms / 1e3) / 1e9;
const ortVersion = JSON.parse(await readFile(join(REPO, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version;
const browser = await page.evaluate(() => navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0]);
const line = (cols, first = 22) => cols.map((c, i) => (i === 0 ? String(c).padEnd(first) : String(c).padStart(11))).join('');
const flopsOf = (r) => r.info.ours?.flops ?? r.info[`ours ${THREADS}T`]?.flops;
const peakGf = peak.gflops;

console.log(`\nnlu-lab (release wasm, app worker) vs onnxruntime-web ${ortVersion} (wasm), ${browser} headless. Each runtime in` +
  ` its own warm worker (${WARMUP}+ warm-up runs, ≥ ${WARMUP_MS} ms), taking turns run by run, ${PAIRS} rounds per case.`);
console.log('ratio = onnxruntime-web ms / ours ms per round: the median with a bootstrap 95 % interval; onnxruntime-web at its faster');
console.log(`export (plain: attentions as outputs; mask: also an attention_mask input). GFLOP/s = 2·m·n·k of all matmuls / median,`);
console.log(`next to our kernel's own ceiling on this machine (a product whose operands stay in L1): ${f1(peakGf)} GFLOP/s per thread (mul + add: wasm has no FMA).`);
console.log(`background: CPU used by other processes during the case, in cores (* above ${BUSY_CORES}: the figure is suspect).\n`);
console.log(line(['case', 'ratio', '95 % interval', 'ours med', 'ours min', 'GF/s', '% of peak', 'ort med', 'ort min', 'ort export', 'other export', 'background']));
const report = (r, prefix, ours, orts, threads) => {
  const c = compare(r, ours, orts);
  const g = gf(flopsOf(r), c.ours.median);
  console.log(line([prefix + r.key, f2(c.ratio.median) + '×', `[${f2(c.ratio.lower)}, ${f2(c.ratio.upper)}]`, f1(c.ours.median), f1(c.ours.min),
    f1(g), `${((100 * g) / (peakGf * threads)).toFixed(0)} %`, f1(c.ort.median), f1(c.ort.min), c.best.replace(/^ort | \dT$/g, ''),
    c.others.map(([n, s]) => `${f1(s.median)}`).join(' '), `${f2(r.background)}${r.background > BUSY_CORES ? ' *' : ''}`]));
  return { key: prefix + r.key, ...c, background: r.background };
};
const targets = single.map((r) => report(r, '', 'ours', EXPORTS.map(([n]) => `ort ${n}`), 1));
const speedups = [];
if (threaded.length) {
  console.log('');
  for (const r of threaded) targets.push(report(r, `${THREADS} threads `, `ours ${THREADS}T`, EXPORTS.map(([n]) => `ort ${n} ${THREADS}T`), THREADS));
  console.log(`\nours on ${THREADS} threads against ours on 1 thread, in the same rounds of the isolated page (per-round ratio 1T ms / ${THREADS}T ms):`);
  for (const r of threaded) {
    const s = bootstrap(r.times['ours 1T'].map((t, i) => t / r.times[`ours ${THREADS}T`][i]));
    speedups.push({ key: r.key, ...s });
    console.log(`  ${r.key.padEnd(20)} ${f2(s.median)}× [${f2(s.lower)}, ${f2(s.upper)}]  (1T ${f1(median(r.times['ours 1T']))} ms, ${THREADS}T ${f1(median(r.times[`ours ${THREADS}T`]))} ms)`);
  }
} else {
  console.log(`\nNO THREADED BUILD in ${benchWorker}/threads: the ${THREADS}-thread comparison is skipped (scripts/build_bench_worker.sh).`);
}

console.log('\nprofile, one bert-base-shaped layer in our worker (median ms; a forward pass runs 12 of these):');
console.log(line(['op', ...profile.map((p) => `seq ${p.seq}`)], 36));
for (const op of Object.keys(profile[0].ops_ms)) console.log(line([op, ...profile.map((p) => p.ops_ms[op].toFixed(2))], 36));

console.log('');
for (const model of chosen) {
  const r = single.find((x) => x.model === model.label);
  const o = r.info.ours;
  console.log(`memory ${model.label}: weights ${(o.weight_bytes / 2 ** 20).toFixed(0)} MiB, wasm memory after load ${(o.memory_after_load / 2 ** 20).toFixed(0)} MiB, ` +
    `after its warm-up runs ${(o.memory_bytes / 2 ** 20).toFixed(0)} MiB = ${(o.memory_bytes / o.weight_bytes).toFixed(2)} × weights`);
}

const phase = (name, xs) => `${name} ${f1(median(xs))}`;
const valid = warm.filter((t) => t.page !== undefined && t.worker !== undefined && t.result !== undefined);
console.log(`\nwarm start MiniLM (open the app with a permalink, weights in IndexedDB → head view drawn), ${warm.length} visits: median ${f1(median(warm.map((t) => t.drawn)))} ms, min ${f1(Math.min(...warm.map((t) => t.drawn)))} ms`);
if (valid.length) {
  console.log(`  timeline, medians in ms from navigation: ${phase('page wasm running', valid.map((t) => t.page))}, ${phase('worker wasm ready', valid.map((t) => t.worker))},` +
    ` ${phase('result on the page', valid.map((t) => t.result))}, ${phase('head view drawn', valid.map((t) => t.drawn))}`);
  console.log(`  inside the worker: ${phase('store read', valid.map((t) => t.read_ms))}, ${phase('model build', valid.map((t) => t.build_ms))},` +
    ` ${phase('forward', valid.map((t) => t.forward_ms))}; drawing after the result ${f1(median(valid.map((t) => t.drawn - t.result)))}`);
}
if (problems.length) console.log('page problems:', problems);

console.log('');
for (const t of targets) {
  console.log(`target ${t.key}: ratio ${f2(t.ratio.median)} [${f2(t.ratio.lower)}, ${f2(t.ratio.upper)}] ours ${f1(t.ours.median)} ms, onnxruntime-web ${f1(t.ort.median)} ms` +
    `${t.background > BUSY_CORES ? ` (background ${f2(t.background)} cores)` : ''}`);
}
for (const s of speedups) console.log(`target ${THREADS} threads over 1 ${s.key}: ${f2(s.median)} [${f2(s.lower)}, ${f2(s.upper)}]`);
console.log(`target warm start MiniLM: ${f1(median(warm.map((t) => t.drawn)))} ms`);

await context.close();
await site.close();
await siteIso.close();
await hub.close();
await rm(userDataDir, { recursive: true, force: true });
await rm(hubRoot, { recursive: true, force: true });
await rm(root, { recursive: true, force: true });
