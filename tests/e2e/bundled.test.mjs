// A site built with its own model mirror (scripts/build.sh --bundle-models): with no ?hub= the app takes MiniLM
// from the site's own models/ folder, and the attention it draws is the model's. Simulated cheaply: the built
// dist/ is copied and the same post_build steps Trunk runs (bundle_models.sh, then make_sw.sh) are applied to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish, REPO, DIST, MINILM_REPO } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';

const golden = loadGolden('bert/minilm');
let env, site;
before(async () => {
  site = await mkdtemp(join(tmpdir(), 'nlu-bundled-'));
  await cp(DIST, site, { recursive: true, filter: (src) => !src.startsWith(join(DIST, 'models')) });
  for (const step of ['scripts/bundle_models.sh', 'scripts/make_sw.sh']) {
    execFileSync('bash', [join(REPO, step)], { env: { ...process.env, NLU_LAB_BUNDLE_MODELS: '1', TRUNK_STAGING_DIR: site }, stdio: 'inherit' });
  }
  env = await setup({ hub: false, root: site });
});
after(async () => {
  await env?.close();
  if (site) await rm(site, { recursive: true, force: true });
});

test('with no ?hub= the app downloads MiniLM from the site\'s own models/ folder', async () => {
  const index = await readFile(join(site, 'index.html'), 'utf8');
  assert.match(index, /<meta name="nlu-lab-hub" content="models" data-repos="sentence-transformers\/all-MiniLM-L6-v2" \/>/);
  assert.doesNotMatch(await readFile(join(site, 'sw.js'), 'utf8'), /models\//, 'the service worker does not precache the weights');

  const page = await watchedPage(env.context);
  // The mirror is static files: the hub API that announces sizes and checksums is not there (the download checks
  // against the catalogue instead).
  page.expectedErrors = ['/paths-info/'];
  const fetched = [];
  env.context.on('request', (r) => fetched.push(r.url()));
  await page.goto(env.appUrl());
  const c = golden.json.cases[0];
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });

  const mirror = `${env.site.url}models/${MINILM_REPO}/resolve/1110a243fdf4706b3f48f1d95db1a4f5529b4d41/`;
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) {
    assert.ok(fetched.includes(mirror + f), `${f} from ${mirror}; fetched:\n${fetched.join('\n')}`);
  }
  assert.deepEqual(fetched.filter((u) => !u.startsWith(env.site.url)), [], 'nothing from another origin');
  assert.deepEqual(await page.locator('[data-testid=tokens] li').allTextContents(), c.tokens);
  const drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  const attn = golden.tensor('case0.attn');
  const worst = Math.max(...drawn.map((l) => Math.abs(l.weight - attention(attn, 0, l.head, l.from, l.to))));
  assert.ok(drawn.length === 12 * c.n * c.n && worst <= 1e-4, `${drawn.length} lines, max |Δ| ${worst}`);
  await finish(page, 'bundled-mirror-head-view');
});
