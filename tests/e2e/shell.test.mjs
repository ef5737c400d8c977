// The app shell loads, the worker round trip works (attention for a sentence, from the real MiniLM served by
// the loopback hub), and nothing errors in the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setup, watchedPage, finish, SHOTS } from './harness.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

test('shell mounts and the worker answers with MiniLM tokens', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.getByRole('heading', { name: 'nlu-lab' }).waitFor();
  await page.locator('#text-a').fill('Attention is all you need.');
  await page.locator('#run').click();
  const tokens = page.locator('[data-testid=tokens] li');
  await tokens.first().waitFor({ timeout: 60_000 });
  assert.deepEqual(await tokens.allTextContents(), ['[CLS]', 'attention', 'is', 'all', 'you', 'need', '.', '[SEP]']);
  await finish(page, 'shell-round-trip');
});

test('a hub that is not https or loopback is refused with a message', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ hub: 'http://example.com' }));
  await page.locator('#run').click();
  await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'must be an https URL' }).waitFor({ timeout: 10_000 }));
  await finish(page, 'shell-bad-hub');
});

test('stored models: listed, used when the hub is down, deleted on request', async () => {
  const page = await watchedPage(env.context);
  page.expectedErrors = [];
  await page.goto(env.appUrl());
  await page.locator('#run').click();
  await page.locator('[data-testid=tokens] li').first().waitFor({ timeout: 60_000 });
  await page.getByTestId('cache-panel').locator('summary').click();
  const row = page.locator('[data-testid=cached-model][data-repo="sentence-transformers/all-MiniLM-L6-v2"]');
  await row.waitFor({ timeout: 10_000 });
  assert.match(await row.textContent(), /model\.safetensors @ 1110a243fdf4 — 86\.7 MB, verified against the catalogue's sha256/);
  assert.match(await page.locator('#model option').first().textContent(), /stored, works offline/);
  await finish(page, 'cache-panel');

  // The hub answers 500 to everything: a new page still runs the model, from IndexedDB.
  env.hub.setFaults({ status: { code: 500 } });
  env.hub.resetStats();
  try {
    const offline = await watchedPage(env.context);
    await offline.goto(env.appUrl());
    await offline.locator('#text-a').fill('Stored weights need no network.');
    await offline.locator('#run').click();
    await offline.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 60_000 });
    assert.equal(env.hub.stats().totalRequests, 0, 'nothing was asked of the hub');
    await finish(offline, 'hub-down-from-indexeddb');
  } finally {
    env.hub.clearFaults();
  }

  // Delete frees it: the row goes, and the next run downloads again.
  await row.getByTestId('delete-model').click();
  await row.waitFor({ state: 'detached', timeout: 10_000 });
  env.hub.resetStats();
  const again = await watchedPage(env.context);
  await again.goto(env.appUrl());
  await again.locator('#run').click();
  await again.locator('[data-testid=tokens] li').first().waitFor({ timeout: 60_000 });
  assert.ok(env.hub.stats().bytesSent >= 90_868_376, 'downloaded again after the delete');
  await finish(again, 'after-delete');
});

/** Every text the attention lab's status line shows from now on, in order (read with `statuses(page)`). */
async function recordStatus(page) {
  await page.getByTestId('attention-status').waitFor({ state: 'attached' });
  await page.evaluate(() => {
    const line = document.querySelector('[data-testid=attention-status]');
    window.__statuses = [];
    new MutationObserver(() => {
      const text = line.textContent;
      if (text && window.__statuses.at(-1) !== text) window.__statuses.push(text);
    }).observe(line, { childList: true, characterData: true, subtree: true });
  });
}
const statuses = (page) => page.evaluate(() => window.__statuses);

test('status lines say what really happens: a download with its time left, then reading from this browser', async () => {
  const fresh = await setup();
  try {
    // 91 MB at 15 MB/s: about 6 s, long enough for a time-left estimate.
    fresh.hub.setFaults({ match: 'model.safetensors', slow: { bytesPerSecond: 15_000_000 } });
    const page = await watchedPage(fresh.context);
    await page.goto(fresh.appUrl());
    await recordStatus(page);
    // Before anything runs: the example, computed in advance, in the head view (all-MiniLM-L6-v2's 13 tokens).
    const example = page.getByTestId('example');
    await example.waitFor();
    assert.match(await example.locator('h3').textContent(), /^Example, computed in advance$/);
    assert.match(await example.textContent(), /Press Run .*its 86\.7 MB of weights download once/);
    const exampleTokens = await example.locator('text.token.left').allTextContents();
    assert.equal(exampleTokens.length, 13);
    assert.deepEqual(exampleTokens.slice(0, 3), ['[CLS]', 'the', 'cat']);
    const exampleRow = await example.locator('line.attn-line[data-head="0"][data-from="2"]').evaluateAll((ls) => ls.reduce((s, l) => s + +l.dataset.weight, 0));
    assert.ok(Math.abs(exampleRow - 1) < 1e-5, `an example row sums to ${exampleRow}`);
    await finish(page, 'example-first-visit');
    await page.locator('#run').click();
    // While the model downloads the example stays, with the download's progress above it.
    await page.getByTestId('attention-status').filter({ hasText: /^Downloading from .* left/ }).waitFor({ timeout: 30_000 });
    assert.ok(await example.isVisible(), 'the example stays while the model downloads');
    await page.screenshot({ path: join(SHOTS, 'example-while-downloading.png') });
    await page.locator('[data-testid=tokens] li').first().waitFor({ timeout: 120_000 });
    // The real result replaces it.
    await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached' });
    assert.equal(await example.count(), 0, 'the example is gone once the real result is drawn');
    const first = await statuses(page);
    console.log(`first visit: ${first.length} status lines, e.g. ${JSON.stringify(first.filter((s) => s.includes('left')).slice(-1))}`);
    const downloading = first.filter((s) => s.startsWith('Downloading'));
    assert.ok(downloading.length > 2, JSON.stringify(first));
    for (const s of downloading) {
      assert.match(s, /^Downloading from 127\.0\.0\.1:\d+: [\d.]+ (kB|MB)( of [\d.]+ (kB|MB))?(, about \d+ (s|min) left)? \([\w.]+\)$/);
    }
    assert.ok(downloading.some((s) => /: [\d.]+ MB of 86\.7 MB, about \d+ s left \(model\.safetensors\)$/.test(s)), JSON.stringify(downloading));
    assert.ok(first.includes('Loading the model'), JSON.stringify(first));
    fresh.hub.clearFaults();

    // The second visit reads the stored model: nothing says "Downloading".
    const again = await watchedPage(fresh.context);
    await again.goto(fresh.appUrl());
    await recordStatus(again);
    await again.locator('#run').click();
    await again.locator('[data-testid=tokens] li').first().waitFor({ timeout: 60_000 });
    const second = await statuses(again);
    assert.ok(second.includes('Reading the model from this browser (model.safetensors, 86.7 MB)'), JSON.stringify(second));
    assert.ok(!second.some((s) => s.startsWith('Downloading')), JSON.stringify(second));
    await finish(page, 'status-first-visit');
    await finish(again, 'status-second-visit');
    // Another sentence is not the example's: a fresh page shows it only for the default one.
    const third = await watchedPage(fresh.context);
    await third.goto(fresh.appUrl());
    await third.getByTestId('example').waitFor();
    await third.locator('#text-a').fill('A different sentence.');
    await third.getByTestId('example').waitFor({ state: 'detached' });
    await third.close();
  } finally {
    await fresh.close();
  }
});

test('an unreachable hub is said at the first failed attempt, with what to do, while the app keeps trying', async () => {
  // A browser profile without the model stored, and a hub address where nothing answers.
  const fresh = await setup({ hub: false });
  try {
    const page = await watchedPage(fresh.context);
    await page.goto(fresh.appUrl({ hub: 'http://127.0.0.1:9' }));
    const start = Date.now();
    await page.locator('#run').click();
    const status = page.getByTestId('attention-status');
    await status.filter({ hasText: 'Cannot reach 127.0.0.1:9: check your connection' }).waitFor({ timeout: 5_000 });
    const said = Date.now() - start;
    assert.match(await status.textContent(), /mirror link, or load the model's files from this computer .*Still trying in the background/);
    await page.screenshot({ path: join(SHOTS, 'status-unreachable-retrying.png') });
    const alert = page.getByRole('alert').filter({ hasText: 'Cannot reach 127.0.0.1:9 to download' });
    await alert.waitFor({ timeout: 30_000 });
    console.log(`unreachable hub: said after ${said} ms while retrying, given up after ${Date.now() - start} ms`);
    assert.match(await alert.textContent(), /\(5 attempts; the browser says: .*\)\. Check your connection and run again, open your course's mirror link, or load the model's files from this computer/);
    await finish(page, 'status-unreachable');
  } finally {
    await fresh.close();
  }
});
