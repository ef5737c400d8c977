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
