// The offline app shell (web/sw.js, written by scripts/make_sw.sh): after one visit the whole app — page, wasm,
// worker — and the weights in IndexedDB work with the site and the hub both gone; a new deploy replaces the shell's
// cache instead of piling up next to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setup, watchedPage, finish, rawTokens } from './harness.mjs';

const shellCaches = (page) => page.evaluate(async () => (await caches.keys()).filter((k) => k.startsWith('nlu-lab-shell-')));

test('after one visit the app and its stored model start with the network off; a redeploy swaps the shell', async () => {
  // A copy of the site, so the test can "deploy" a new service worker into it.
  const env = await setup({ copySite: true });
  const site = env.root;
  try {
    const page = await watchedPage(env.context);
    await page.goto(env.appUrl());
    await page.evaluate(() => navigator.serviceWorker.ready);
    const first = await shellCaches(page);
    assert.equal(first.length, 1, `one shell cache after the first visit: ${first}`);
    const built = JSON.parse((await readFile(join(site, 'sw.js'), 'utf8')).match(/const ASSETS = (\[.*\]);/)[1]);
    assert.ok(built.some((f) => f.endsWith('_bg.wasm')) && built.includes('./index.html'), `sw.js lists the build: ${built}`);
    const cached = await page.evaluate(async (name) => (await (await caches.open(name)).keys()).length, first[0]);
    assert.equal(cached, built.length, 'every file of the build is in the shell cache');

    await page.locator('#text-a').fill('Offline after one visit.');
    await page.locator('#run').click();
    await page.locator('[data-testid=tokens] li').first().waitFor({ timeout: 60_000 });

    // A new deploy: sw.js changes, the browser installs it on the next visit and the old cache goes.
    const sw = await readFile(join(site, 'sw.js'), 'utf8');
    await writeFile(join(site, 'sw.js'), sw.replace(/const VERSION = '[^']*'/, "const VERSION = 'redeployed'"));
    await page.reload();
    await page.waitForFunction(async () => {
      const keys = (await caches.keys()).filter((k) => k.startsWith('nlu-lab-shell-'));
      return keys.length === 1 && keys[0] === 'nlu-lab-shell-redeployed';
    }, null, { timeout: 30_000, polling: 250 });
    await page.locator('#update-ready').filter({ hasText: 'A new version of nlu-lab is ready' }).waitFor({ timeout: 10_000 });

    // Network off: the static site and the hub both stop.
    await env.site.close();
    await env.hub.close();
    await page.reload();
    await page.getByRole('heading', { name: 'nlu-lab' }).waitFor({ timeout: 30_000 });
    assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the page is served by the shell');
    await page.locator('#text-a').fill('Offline after one visit.');
    await page.locator('#run').click();
    await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 60_000 });
    assert.deepEqual(await rawTokens(page),
      ['[CLS]', 'off', '##line', 'after', 'one', 'visit', '.', '[SEP]']);
    await finish(page, 'offline-shell');
  } finally {
    await env.close();
  }
});
