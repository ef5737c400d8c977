// A site built for a sub-path (`trunk build --public-url /nlu-lab/`, as for a GitHub Pages project site) served
// only under /nlu-lab/: the page, its wasm, the worker and its wasm all load from there, and the attention of a
// sentence from the real MiniLM is drawn. scripts/test.sh builds target/dist-subpath.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, watchedPage, finish, REPO, rawTokens } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';

const DIST_SUBPATH = join(REPO, 'target/dist-subpath');
const golden = loadGolden('bert/minilm');
let env;
before(async () => { env = await setup({ root: DIST_SUBPATH, prefix: '/nlu-lab/' }); });
after(async () => { await env?.close(); });

test('the /nlu-lab/ build works from /nlu-lab/ and nowhere else', async () => {
  const index = readFileSync(join(DIST_SUBPATH, 'index.html'), 'utf8');
  assert.match(index, /(href|src)="\/nlu-lab\/nlu-lab-app-[0-9a-f]+\.js"/, 'asset URLs carry the sub-path');
  assert.match(env.site.url, /\/nlu-lab\/$/);
  const requested = [];
  const page = await watchedPage(env.context);
  page.on('request', (r) => requested.push(new URL(r.url())));
  env.context.on('request', (r) => requested.push(new URL(r.url()))); // the worker's own fetches
  await page.goto(env.appUrl());
  const c = golden.json.cases[0];
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  assert.deepEqual(await rawTokens(page), c.tokens);
  const drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  assert.equal(drawn.length, 12 * c.n * c.n);
  const attn = golden.tensor('case0.attn');
  const worst = Math.max(...drawn.map((l) => Math.abs(l.weight - attention(attn, 0, l.head, l.from, l.to))));
  assert.ok(worst <= 1e-4, `drawn weights differ from transformers by ${worst}`);
  const site = new URL(env.site.url);
  const fromSite = requested.filter((u) => u.origin === site.origin).map((u) => u.pathname);
  assert.ok(fromSite.some((p) => /^\/nlu-lab\/nlu-lab-worker.*\.wasm$/.test(p)), `the worker's wasm came from the sub-path: ${fromSite}`);
  assert.deepEqual(fromSite.filter((p) => !p.startsWith('/nlu-lab/')), [], 'nothing asked outside the sub-path');
  await finish(page, 'subpath-head-view');
});
