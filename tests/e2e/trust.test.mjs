// Weights a course can trust (issue #14), as a student meets them: a `?hub=` link to a hub serving changed files
// leaves nothing that the real hub's pages use; two tabs share one download; a page and a worker from different
// builds do not talk; a message the worker cannot read is answered; the worker keeps at most two models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { setup, watchedPage, finish, MINILM_DIR, MINILM_REPO, CHROMIUM_ARGS, rawTokens } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';

const TEXT = 'Paris is lovely in May.';
const UNPINNED_REPO = 'google-bert/bert-base-cased';

/** A hub root serving MiniLM under `repos`, its tokenizer changed but of the same size ("paris" is not a word of
 *  its vocabulary any more: other tokens), so that only the checksum can tell. */
async function hostileRoot(repos, { longer = false } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'nlu-hostile-'));
  const honest = await readFile(join(MINILM_DIR, 'tokenizer.json'), 'utf8');
  const tokenizer = longer ? honest.replace('"lowercase":true', '"lowercase":false') : honest.replace('"paris":3000', '"pariz":3000');
  assert.ok(tokenizer !== honest && (longer || tokenizer.length === honest.length));
  for (const repo of repos) {
    await mkdir(join(root, repo), { recursive: true });
    await writeFile(join(root, repo, 'tokenizer.json'), tokenizer);
    for (const f of ['config.json', 'model.safetensors']) await symlink(join(MINILM_DIR, f), join(root, repo, f));
  }
  return root;
}

async function run(page, url) {
  await page.goto(url);
  await page.locator('#text-a').fill(TEXT);
  await page.locator('#run').click();
  await Promise.race([
    page.locator('[data-testid=tokens] li').first().waitFor({ timeout: 120_000 }),
    page.locator('.error').first().waitFor({ timeout: 120_000 }).then(async () => {
      throw new Error(`the page shows an error: ${await page.locator('.error').first().textContent()}`);
    }),
  ]);
  const tokens = await rawTokens(page);
  const status = await page.locator('[data-testid=attention-status]').textContent();
  return { tokens, status };
}

/** The weights store's manifests, as `[repo, revision, file, scope] → {origin, verified, sha256}`. */
function storeManifests(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('nlu-lab-weights');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction(['files'], 'readonly');
      const keys = tx.objectStore('files').getAllKeys();
      const values = tx.objectStore('files').getAll();
      tx.oncomplete = () => {
        resolve(keys.result.map((k, i) => ({ key: k, ...JSON.parse(values.result[i]) })));
        open.result.close();
      };
    };
  }));
}

/** Chunk keys of one file: [[origin, offset, length], ...]. */
function storeChunks(page, repo, file) {
  return page.evaluate(([repo, file]) => new Promise((resolve, reject) => {
    const open = indexedDB.open('nlu-lab-weights');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction(['chunks'], 'readonly');
      const store = tx.objectStore('chunks');
      const out = [];
      const cursor = store.openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return;
        const [r, , f, origin, offset] = c.key;
        if (r === repo && f === file) out.push([origin, offset, c.value.byteLength]);
        c.continue();
      };
      tx.oncomplete = () => { resolve(out); open.result.close(); };
    };
  }), [repo, file]);
}

test('a ?hub= serving changed files leaves nothing that the honest hub\'s pages use', async () => {
  const env = await setup();
  const root = await hostileRoot([MINILM_REPO, UNPINNED_REPO]);
  const longerRoot = await hostileRoot([MINILM_REPO], { longer: true });
  const hostile = await startHub({ root });
  const longer = await startHub({ root: longerRoot });
  try {
    // 0. A changed file of another size than the pin: refused while it downloads, the file and the hub named.
    const page = await watchedPage(env.context);
    await page.goto(env.appUrl({ hub: longer.url }));
    await page.locator('#text-a').fill(TEXT);
    await page.locator('#run').click();
    const refusal = page.locator('.error').filter({ hasText: 'has the wrong size' }).first();
    await refusal.waitFor({ timeout: 60_000 });
    assert.match(await refusal.textContent(), new RegExp(`tokenizer\\.json from ${new URL(longer.url).origin} has the wrong size`));
    assert.ok(!(await storeManifests(page)).some((m) => m.file === 'tokenizer.json'), 'nothing of it was kept');

    // 1. Pinned model (MiniLM), hostile hub first: its changed tokenizer.json is quarantined and named.
    const bad = await run(page, env.appUrl({ hub: hostile.url }));
    assert.match(bad.status, /tokenizer\.json from http:\/\/127\.0\.0\.1:\d+ is not the file the catalogue pins/);
    assert.ok(bad.status.includes(new URL(hostile.url).origin), bad.status);
    assert.match(bad.status, /not verified/);
    await finish(page, 'trust-hostile-hub');

    // The honest hub afterwards: honest tokens, verified, nothing said; the hostile bytes are not used.
    const good = await run(page, env.appUrl());
    assert.deepEqual(good.tokens, ['[CLS]', 'paris', 'is', 'lovely', 'in', 'may', '.', '[SEP]']);
    assert.notDeepEqual(bad.tokens, good.tokens, `the hostile tokenizer gave other tokens: ${bad.tokens}`);
    assert.ok(!good.status.includes('⚠') && !good.status.includes('not verified'), good.status);

    // And the hostile hub again: the verified copy answers it now (pinned bytes are shared whatever hub asks).
    const again = await run(page, env.appUrl({ hub: hostile.url }));
    assert.deepEqual(again.tokens, good.tokens);
    const manifests = await storeManifests(page);
    const tokenizers = manifests.filter((m) => m.repo === MINILM_REPO && m.file === 'tokenizer.json');
    const quarantined = tokenizers.find((m) => m.origin === new URL(hostile.url).origin);
    const verified = tokenizers.find((m) => m.key[3] === '#pinned');
    assert.ok(quarantined && !quarantined.verified && quarantined.key[3] === quarantined.origin, JSON.stringify(tokenizers));
    assert.ok(verified && verified.verified && verified.origin === new URL(env.hub.url).origin, JSON.stringify(tokenizers));

    // 2. An unpinned model: each hub's bytes serve only that hub's pages.
    const page2 = await watchedPage(env.context);
    const hostileUnpinned = await run(page2, env.appUrl({ hub: hostile.url, model: UNPINNED_REPO }));
    assert.deepEqual(hostileUnpinned.tokens, bad.tokens);
    assert.match(hostileUnpinned.status, /not verified: size and checksum unknown/);
    // The honest hub has no bert-base-cased: its request fails (404) instead of taking the hostile hub's copy.
    page2.expectedErrors = [UNPINNED_REPO];
    await page2.goto(env.appUrl({ model: UNPINNED_REPO }));
    await page2.locator('#text-a').fill(TEXT);
    await page2.locator('#run').click();
    await page2.locator('.error').filter({ hasText: 'HTTP 404' }).first().waitFor({ timeout: 60_000 });
    await finish(page2, 'trust-unpinned-kept-apart');
  } finally {
    await hostile.close();
    await longer.close();
    await env.close();
    await rm(root, { recursive: true, force: true });
    await rm(longerRoot, { recursive: true, force: true });
  }
});

test('two tabs asking for one model download it once; no chunk overlaps', async () => {
  const env = await setup();
  try {
    // Slow enough that both tabs ask while the first download runs (91 MB at 30 MB/s: 3 s).
    env.hub.setFaults({ match: 'model.safetensors', slow: { bytesPerSecond: 30_000_000 } });
    env.hub.resetStats();
    const [a, b] = [await watchedPage(env.context), await watchedPage(env.context)];
    await Promise.all([a.goto(env.appUrl()), b.goto(env.appUrl())]);
    for (const p of [a, b]) await p.locator('#text-a').fill(TEXT);
    await Promise.all([a.locator('#run').click(), b.locator('#run').click()]);
    for (const p of [a, b]) await p.locator('[data-testid=tokens] li').first().waitFor({ timeout: 180_000 });
    assert.deepEqual(await rawTokens(a),
      await rawTokens(b));
    const stats = env.hub.stats();
    const weightsRequests = Object.entries(stats.requests).filter(([p]) => p.includes('/__cdn/') && p.endsWith('model.safetensors'));
    const size = 90_868_376;
    console.log(`two tabs: ${JSON.stringify(weightsRequests)}, ${stats.bytesSent} bytes sent for a ${size}-byte model`);
    assert.ok(stats.bytesSent < size * 1.1, `about one copy crossed the network: ${stats.bytesSent} bytes`);
    const chunks = (await storeChunks(a, MINILM_REPO, 'model.safetensors')).sort((x, y) => x[1] - y[1]);
    let next = 0;
    for (const [, offset, length] of chunks) {
      assert.equal(offset, next, `chunks tile the file: ${JSON.stringify(chunks)}`);
      next += length;
    }
    assert.equal(next, size);
    await finish(a, 'trust-two-tabs');
  } finally {
    await env.close();
  }
});

test('a worker from another build is not talked to: the page offers a reload; unreadable messages are answered', async () => {
  const env = await setup({ copySite: true });
  const site = env.root;
  try {
    const page = await watchedPage(env.context);
    await page.goto(env.appUrl());
    await page.waitForFunction(() => document.documentElement.dataset.build);
    const build = await page.evaluate(() => document.documentElement.dataset.build);
    assert.ok(build && build.length >= 4, `the page names its build: ${build}`);

    // A request the worker cannot decode, with id 7: it answers id 7 with an error, instead of dropping it.
    const answer = await page.evaluate(() => new Promise((resolve) => {
      const w = new Worker('worker.js');
      w.onmessage = (e) => {
        if (typeof e.data === 'string') return resolve({ fatal: e.data });
        const bytes = new Uint8Array(e.data);
        if (bytes[0] === 0) { // Ready (id 0): now send garbage with id 7.
          const garbage = new Uint8Array([7, 250, 251, 252, 253]);
          w.postMessage(garbage.buffer, [garbage.buffer]);
          return;
        }
        resolve({ id: bytes[0], text: new TextDecoder().decode(bytes) });
        w.terminate();
      };
    }));
    assert.equal(answer.id, 7, JSON.stringify(answer));
    assert.match(answer.text, /could not understand each other/);

    // The deploy changes the worker under the open page's feet: its wasm now says another build id.
    for (const dir of ['', 'threads/']) {
      const path = join(site, dir, 'nlu-lab-worker_bg.wasm');
      let bytes;
      try { bytes = await readFile(path); } catch { continue; }
      const at = bytes.indexOf(Buffer.from(build));
      assert.ok(at >= 0, `${dir}nlu-lab-worker_bg.wasm holds the build id`);
      Buffer.from('f'.repeat(build.length)).copy(bytes, at);
      await writeFile(path, bytes);
    }
    // A fresh browser profile, so the service worker's cache of the old build does not answer.
    const profile = await mkdtemp(join(tmpdir(), 'nlu-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, viewport: { width: 390, height: 844 },
    });
    try {
      const mixed = await watchedPage(context);
      mixed.on('console', () => {});
      await mixed.goto(env.appUrl());
      await mixed.locator('[data-testid=reload-banner]').waitFor({ timeout: 60_000 });
      await mixed.locator('#text-a').fill(TEXT);
      await mixed.locator('#run').click();
      await mixed.locator('.error').filter({ hasText: 'different versions' }).first().waitFor({ timeout: 30_000 });
      await finish(mixed, 'trust-build-mismatch-phone');
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  } finally {
    await env.close();
  }
});
