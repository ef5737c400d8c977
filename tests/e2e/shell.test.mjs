// The app shell loads, the worker round trip works (attention for a sentence, from the real MiniLM served by
// the loopback hub), and nothing errors in the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, watchedPage, finish } from './harness.mjs';

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
