// Threads where the page allows: the site served as GitHub Pages would (no special headers). After one visit the
// service worker serves the app's page with COOP/COEP, the page is cross-origin isolated and starts the threaded
// inference worker (threads/, a wasm-bindgen-rayon pool of min(cores, 4) threads); the attention it computes on
// those threads matches transformers' goldens as the single-threaded worker's does, and so do CLIP's
// probabilities. The same app embedded in an iframe on another origin stays single-threaded and works.
// Fails when this build has no threaded worker (scripts/build.sh then said so loudly).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish, DIST, REPO, fillClipCase, rawTokens } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';
import { ISOLATION_HEADERS, startStatic } from '../../scripts/static-server.mjs';

const TOL = 1e-4;
const golden = loadGolden('bert/minilm');
let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

const lines = (page) => page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
  ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));

function worstDiff(drawn, attn, layer) {
  return drawn.reduce((w, l) => Math.max(w, Math.abs(l.weight - attention(attn, layer, l.head, l.from, l.to))), 0);
}

/** Open the app, let the service worker take over, reload: now the page comes from the shell, isolated. */
async function isolatedApp(page, params = {}) {
  await page.goto(env.appUrl(params));
  // The service worker may claim the page while it loads (controlled, but the document came from the network
  // without COOP/COEP): what decides the reload is whether the page is isolated.
  const first = await page.evaluate(() => ({ controlled: !!navigator.serviceWorker.controller, isolated: crossOriginIsolated }));
  if (!first.controlled) assert.equal(first.isolated, false, 'the first visit has no COOP/COEP yet');
  if (!first.isolated) {
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.reload();
  }
  assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the page comes from the service worker');
  assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'the service worker made the page cross-origin isolated');
}

test('the build ships the threaded worker and lists it in the service worker', async () => {
  assert.ok(existsSync(join(DIST, 'threads/worker.js')) && existsSync(join(DIST, 'threads/nlu-lab-worker_bg.wasm')),
    'dist/threads/ is missing: the threaded worker did not build (see scripts/build.sh output)');
  const sw = await (await import('node:fs/promises')).readFile(join(DIST, 'sw.js'), 'utf8');
  const assets = JSON.parse(sw.match(/const ASSETS = (\[.*\]);/)[1]);
  for (const f of ['./threads/worker.js', './threads/nlu-lab-worker.js', './threads/nlu-lab-worker_bg.wasm']) {
    assert.ok(assets.includes(f), `sw.js precaches ${f}`);
  }
});

test('cross-origin isolated: attention on the thread pool matches transformers within 1e-4', async () => {
  const page = await watchedPage(env.context);
  await isolatedApp(page);
  const c = golden.json.cases[0];
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const want = Math.min(cores, 4);
  assert.ok(want > 1, `this machine reports ${cores} core(s): threads cannot be tested here`);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.threads), String(want), 'the threaded worker runs');
  await page.locator('.status', { hasText: `on ${want} threads` }).first().waitFor({ timeout: 10_000 });
  assert.deepEqual(await rawTokens(page), c.tokens);
  const attn = golden.tensor('case0.attn');
  const worst = [];
  for (const layer of [0, 3, 5]) {
    await page.getByTestId('layer').selectOption(String(layer));
    const drawn = await lines(page);
    assert.equal(drawn.length, 12 * c.n * c.n);
    worst.push(worstDiff(drawn, attn, layer));
  }
  console.log(`threads ${want}: max |Δ| drawn vs transformers, layers 0/3/5: ${worst.map((w) => w.toExponential(2))}`);
  assert.ok(Math.max(...worst) <= TOL);
  await finish(page, 'threads-head-view');
});

test('cross-origin isolated: CLIP on the threaded worker gives the reference probabilities', async () => {
  const clip = loadGolden('clip/tiny-clip-b32');
  const c = clip.json.cases[0];
  const page = await watchedPage(env.context);
  await isolatedApp(page);
  await page.locator('#tab-clip').click();
  await fillClipCase(page, c);
  await page.locator('#classify').click();
  await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  assert.notEqual(await page.evaluate(() => document.documentElement.dataset.threads), '1', 'the threaded worker runs');
  const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  const worst = Math.max(...probs.map((p, i) => Math.abs(p - c.probs[i])));
  assert.ok(worst <= TOL, `probabilities ${probs} vs ${c.probs}`);
  await finish(page, 'threads-clip');
});

test('embedded in another origin\'s iframe the app is not isolated and runs on one thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nlu-course-'));
  const course = await startStatic({ root: dir });
  try {
    const c = golden.json.cases[0];
    const src = env.appUrl({ embed: 'head', model: 'sentence-transformers/all-MiniLM-L6-v2', text: c.text, layer: '0' });
    await writeFile(join(dir, 'index.html'), `<!DOCTYPE html><html lang="en"><title>course</title><iframe title="nlu-lab" src="${src.replaceAll('&', '&amp;')}" width="900" height="700"></iframe>`);
    const page = await watchedPage(env.context);
    // Visit the app first, so that its service worker exists (it must still leave an embed alone).
    await page.goto(env.appUrl());
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.goto(course.url);
    const frame = page.frameLocator('iframe');
    await frame.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
    const inner = page.frames().find((f) => f.url().startsWith(env.site.url));
    assert.equal(await inner.evaluate(() => crossOriginIsolated), false);
    assert.equal(await inner.evaluate(() => document.documentElement.dataset.threads), '1');
    const drawn = await frame.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
      ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
    assert.ok(drawn.length > 0 && worstDiff(drawn, golden.tensor('case0.attn'), 0) <= TOL);
    await finish(page, 'threads-embed-one-thread');
  } finally {
    await course.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('an isolated page whose build has no threads/ falls back to the single-threaded worker', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nlu-site-'));
  await cp(DIST, dir, { recursive: true });
  await rm(join(dir, 'threads'), { recursive: true, force: true });
  const site = await startStatic({ root: dir, headers: ISOLATION_HEADERS });
  try {
    const page = await watchedPage(env.context);
    page.expectedErrors = ['/threads/worker.js'];
    await page.goto(`${site.url}?${new URLSearchParams({ hub: env.hub.url })}`);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    const c = golden.json.cases[0];
    await page.locator('#text-a').fill(c.text);
    await page.locator('#run').click();
    await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.threads), '1');
    assert.ok(worstDiff(await lines(page), golden.tensor('case0.attn'), 0) <= TOL);
    await finish(page, 'threads-fallback');
  } finally {
    await site.close();
    await rm(dir, { recursive: true, force: true });
  }
});
