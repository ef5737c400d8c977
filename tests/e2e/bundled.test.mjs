// A site that serves compact models itself (scripts/build.sh --bundle-models SPEC): the real MiniLM and the tiny
// synthetic CLIP are fetched from the loopback hub, checked against their pins (the tiny CLIP is not B/32's pinned
// file: packed as not verified), packed to int8 (MiniLM in one file of 23.6 MB, the tiny CLIP in pieces of
// at most 26 MiB), and served from the site's models/ folder. Built cheaply: the built dist/ is copied and the post_build
// steps Trunk runs (bundle_models.sh, then make_sw.sh) are applied to it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish, makeHubRoot, REPO, DIST, MINILM_REPO, CLIP_REPO, TINY_CLIP_DIR, fillClipCase, rawTokens } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';
import { loadGolden, attention } from './golden.mjs';

const run = promisify(execFile);
const SPEC = `${MINILM_REPO}:int8 ${CLIP_REPO}:int8`;
const PIECE_MIB = 26; // the tiny CLIP's int8 token embeddings (the real vocabulary) alone are 25.3 MB
// int8 with one scale per output channel (GPTQ-chosen values): MiniLM's attention measures 5.1e-2 natively against
// transformers (README, "Compact weights"); the tiny CLIP's probabilities 6.6e-3 against its f32 self, plus 1e-2 for
// our preprocessing.
const INT8_ATTENTION_BOUND = 1e-1;
const INT8_PROB_BOUND = 2e-2;
const minilm = loadGolden('bert/minilm');
const clip = loadGolden('clip/tiny-clip-b32');
let env, site, cache, sourceHub, hubRoot, packs;
let siteProbs; // the 8-bit CLIP's probabilities from the site's pack, for the same pack from local files
// scripts/test.sh's native tests built the CLI already (with the bench feature): use it rather than rebuild it.
const CLI = join(process.env.CARGO_TARGET_DIR ?? join(REPO, 'target'), 'debug/nlu-lab');

before(async () => {
  // The sources come from a loopback hub of their own (as huggingface.co on GitHub's runner); the app's pages
  // later get another (`env.hub`) for the full-precision check.
  hubRoot = await makeHubRoot();
  sourceHub = await startHub({ root: hubRoot });
  cache = await mkdtemp(join(tmpdir(), 'nlu-bundle-cache-'));
  site = await mkdtemp(join(tmpdir(), 'nlu-bundled-'));
  // With the CLIP lab's first-visit example too (build.sh --clip-example), computed from the tiny CLIP.
  const common = { ...process.env, NLU_LAB_CACHE: cache, NLU_LAB_BUNDLE_MODELS: SPEC, NLU_LAB_CLIP_EXAMPLE: CLIP_REPO };
  for (const script of ['scripts/pack_models.sh', 'scripts/clip_example.sh']) {
    const { stdout } = await run('bash', [join(REPO, script)], {
      env: { ...common, NLU_LAB_HUB: sourceHub.url, NLU_LAB_MAX_PIECE_MB: String(PIECE_MIB), NLU_LAB_BUNDLE_UNVERIFIED: CLIP_REPO,
        ...(existsSync(CLI) ? { NLU_LAB_PACK_CLI: CLI } : {}) },
      maxBuffer: 1 << 24,
    });
    console.log(stdout);
  }
  await cp(DIST, site, { recursive: true, filter: (src) => !src.startsWith(join(DIST, 'models')) && !src.startsWith(join(DIST, 'examples')) });
  for (const step of ['scripts/bundle_models.sh', 'scripts/bundle_example.sh', 'scripts/make_sw.sh']) {
    const { stdout } = await run('bash', [join(REPO, step)], { env: { ...common, TRUNK_STAGING_DIR: site } });
    console.log(stdout.trim());
  }
  packs = JSON.parse(await readFile(join(site, 'models/packs.json'), 'utf8'));
  env = await setup({ root: site });
});
after(async () => {
  await env?.close();
  await sourceHub?.close();
  for (const dir of [site, cache, hubRoot]) if (dir) await rm(dir, { recursive: true, force: true });
});

test('the packs are checked, in pieces within the limit, and announced in index.html', async () => {
  assert.deepEqual(packs.map((p) => `${p.repo}:${p.dtype}`), SPEC.split(' '));
  const [lm, cl] = packs;
  assert.equal(lm.revision, 'int8-1110a243fdf4706b3f48f1d95db1a4f5529b4d41');
  assert.equal(lm.source_sha256, '53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db', 'the real MiniLM');
  assert.equal(lm.source_verified, true);
  assert.equal(cl.source_verified, false, 'the tiny CLIP is not B/32\'s pinned file');
  const weights = lm.files.find((f) => f.name === 'model.safetensors');
  assert.ok(weights.size > 20e6 && weights.size < 26e6, `MiniLM int8 weights ${weights.size} bytes (f32: 90.9 MB)`);
  const pieces = cl.files.filter((f) => f.name.endsWith('.safetensors'));
  assert.ok(pieces.length >= 2 && pieces.every((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f.name) && f.size <= PIECE_MIB << 20),
    JSON.stringify(pieces));
  for (const p of packs) {
    assert.ok(p.files.some((f) => f.name === 'nlu-lab-pack.json'), `${p.repo}: its manifest`);
  }
  assert.ok(cl.files.some((f) => f.name === 'model.safetensors.index.json'));
  const index = await readFile(join(site, 'index.html'), 'utf8');
  assert.match(index, /<meta name="nlu-lab-hub" content="models" data-packs="\[\{&quot;repo&quot;/);
  assert.doesNotMatch(await readFile(join(site, 'sw.js'), 'utf8'), /models\//, 'the service worker does not precache the weights');
});

test('with no ?hub= the selector offers the 8-bit MiniLM from this site first, and its attention is close to transformers\'', async () => {
  const page = await watchedPage(env.context);
  // The mirror is static files: the hub API that announces sizes and checksums is not there (the download checks
  // against the site's pins instead).
  page.expectedErrors = ['/paths-info/'];
  const fetched = [];
  env.context.on('request', (r) => fetched.push(r.url()));
  await page.goto(`${env.site.url}`);
  const first = page.locator('#model option').first();
  assert.match(await first.textContent(), /^MiniLM-L6 \(all-MiniLM-L6-v2\) — 8-bit · 2\d MB · from this site$/);
  assert.equal(await page.locator('#model').inputValue(), `${MINILM_REPO}:int8`);
  assert.ok(await page.locator('#model option', { hasText: /^MiniLM-L6 \(all-MiniLM-L6-v2\) — 91 MB/ }).count() === 1,
    'the full-precision model is still offered');
  const c = minilm.json.cases[0];
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 120_000 });

  const mirror = `${env.site.url}models/${MINILM_REPO}/resolve/int8-1110a243fdf4706b3f48f1d95db1a4f5529b4d41/`;
  for (const f of packs[0].files.filter((f) => f.name !== 'nlu-lab-pack.json' && f.name !== 'model.safetensors.index.json')) {
    assert.ok(fetched.includes(mirror + f.name), `${f.name} from ${mirror}; fetched:\n${fetched.join('\n')}`);
  }
  assert.deepEqual(fetched.filter((u) => !u.startsWith(env.site.url)), [], 'nothing from another origin');
  assert.deepEqual(await rawTokens(page), c.tokens);
  const drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  const attn = minilm.tensor('case0.attn');
  const worst = Math.max(...drawn.map((l) => Math.abs(l.weight - attention(attn, 0, l.head, l.from, l.to))));
  console.log(`MiniLM int8 from the site, layer 0: attention max |Δ| ${worst.toExponential(2)} against transformers (f32)`);
  assert.ok(drawn.length === 12 * c.n * c.n && worst > 0 && worst <= INT8_ATTENTION_BOUND, `${drawn.length} lines, max |Δ| ${worst}`);
  await finish(page, 'bundled-int8-head-view');
});

test('the 8-bit CLIP from the site, then the full-precision check from the hub: probabilities within the bound', async () => {
  const page = await watchedPage(env.context);
  page.expectedErrors = ['/paths-info/'];
  const fetched = [];
  page.on('request', (r) => fetched.push(r.url()));
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  assert.match(await page.locator('#clip-model option').first().textContent(), /^CLIP ViT-B\/32 — 8-bit · \d+ MB · from this site · not verified/);
  const c = clip.json.cases[0];
  await fillClipCase(page, c);
  const probabilities = async () => {
    await page.locator('#classify').click();
    await page.getByTestId('precision').waitFor({ timeout: 120_000 });
    return page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  };
  const compact = await probabilities();
  siteProbs = compact;
  assert.match(await page.getByTestId('precision').textContent(), /^Computed with 8-bit weights \(int8/);
  assert.deepEqual(fetched.filter((u) => u.startsWith(env.hub.url)), [], 'the pack came from the site, not the hub');
  const handIn = async () => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('submit-json').click()]);
    return JSON.parse(await readFile(await dl.path(), 'utf8'));
  };
  const json = await handIn();
  assert.equal(json.precision, 'int8');
  assert.equal(json.revision, '3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268');
  assert.equal(json.pack.source_sha256, packs[1].source_sha256);
  assert.equal(json.full_precision, null, 'not checked yet');
  assert.deepEqual(json.pack.weights, packs[1].files.filter((f) => f.name.endsWith('.safetensors')).map(({ name, sha256 }) => ({ name, sha256 })));
  // The warning appears exactly when the top probability is within 0.05 of 0.6.
  const top = Math.max(...compact);
  assert.equal(await page.getByTestId('near-threshold').count(), Math.abs(top - 0.6) <= 0.05 ? 1 : 0, `top ${top}`);

  // "Check in full precision": the same image and captions with the f32 model, from the hub.
  await page.getByTestId('check-full').click();
  await page.getByTestId('full-check').waitFor({ timeout: 120_000 });
  const full = JSON.parse(await page.getByTestId('full-check').getAttribute('data-probs'));
  assert.match(await page.getByTestId('full-check').textContent(), /^Full precision \(f32\): .*Largest difference from the 8-bit result: (\d\.\de-\d|0\.\d{4}); the verdict/);
  assert.match(await page.getByTestId('precision').textContent(), /^Computed with 8-bit weights/, 'the shown result stays the compact one');
  assert.ok(fetched.some((u) => u.startsWith(env.hub.url)), 'full precision from the hub');
  const change = Math.max(...compact.map((p, i) => Math.abs(p - full[i])));
  const vsReference = Math.max(...compact.map((p, i) => Math.abs(p - c.probs[i])));
  const fullVsReference = Math.max(...full.map((p, i) => Math.abs(p - c.probs[i])));
  console.log(`tiny CLIP int8 ${compact} vs f32 ${full}: max |Δ| ${change.toExponential(2)}; vs transformers ${vsReference.toExponential(2)} (f32 ${fullVsReference.toExponential(2)})`);
  assert.ok(change > 0 && change <= INT8_PROB_BOUND, `int8 vs f32: ${change}`);
  assert.ok(vsReference <= INT8_PROB_BOUND + 1e-2, `int8 vs transformers: ${vsReference}`);
  assert.ok(fullVsReference <= 1e-5, `f32 vs transformers: ${fullVsReference}`);
  const checked = await handIn();
  assert.equal(checked.precision, 'int8');
  assert.deepEqual(checked.probabilities, json.probabilities);
  assert.equal(checked.full_precision.revision, '3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268');
  assert.ok(checked.full_precision.probabilities.every((p, i) => Math.abs(p - full[i]) < 1e-4), 'the hand-in records the check');
  assert.equal(checked.full_precision.confusing, Math.max(...full) < 0.6);

  // The teacher re-checks the hand-in natively (`nlu-lab clip --submission`): with the site's 8-bit pack, read from
  // its pieces, and with the full model; a hand-in whose numbers were edited differs.
  assert.ok(existsSync(CLI), `${CLI} is missing: run cargo build --features bench`);
  const handInFile = join(cache, 'clip-submission.json');
  await writeFile(handInFile, JSON.stringify(checked));
  const image = join(REPO, 'tests/fixtures', c.image);
  const recheck = (model, file = handInFile) =>
    run(CLI, ['clip', '--model', model, '--image', image, '--submission', file]).then(
      ({ stderr }) => ({ code: 0, stderr }), (e) => ({ code: e.code, stderr: e.stderr }));
  const packDir = join(site, 'models', CLIP_REPO, 'resolve', packs[1].revision);
  const samePack = await recheck(packDir);
  console.log(samePack.stderr.trim());
  assert.equal(samePack.code, 0, samePack.stderr);
  assert.match(samePack.stderr, /^agree: int8 probabilities here vs the hand-in's int8 probabilities: largest difference /);
  assert.match(samePack.stderr, /; the same weights;/, 'the hand-in names the pack\'s pieces by sha256');
  const fullModel = await recheck(TINY_CLIP_DIR);
  console.log(fullModel.stderr.trim());
  assert.equal(fullModel.code, 0, fullModel.stderr);
  assert.match(fullModel.stderr, /^agree: f32 probabilities here vs the hand-in's full-precision check: /);
  const edited = { ...checked, probabilities: checked.probabilities.map((p, i) => (i === 0 ? p + 0.05 : p - 0.05)) };
  const editedFile = join(cache, 'edited-submission.json');
  await writeFile(editedFile, JSON.stringify(edited));
  const differs = await recheck(packDir, editedFile);
  assert.equal(differs.code, 1, differs.stderr);
  assert.match(differs.stderr, /^differ: int8 probabilities here vs the hand-in's int8 probabilities: largest difference 5\.0\de-2/);
  // On a phone: the selector, the precision line and the check fit the screen's width (no page-wide scroll).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByTestId('full-check').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(REPO, 'target/e2e/bundled-int8-clip-phone.png') });
  const overflow = await page.evaluate(() => ['#clip-model', '[data-testid=precision]', '[data-testid=full-check]']
    .map((sel) => [sel, document.querySelector(sel).getBoundingClientRect().right]).filter(([, right]) => right > 391));
  assert.deepEqual(overflow, [], 'wider than the phone');
  await finish(page, 'bundled-int8-clip');
});

test('the CLIP lab\'s example computed in advance: shown at once, with the reference\'s probabilities; "Use this image" and Classify replace it', async () => {
  const page = await watchedPage(env.context);
  page.expectedErrors = ['/paths-info/'];
  const fetched = [];
  page.on('request', (r) => fetched.push(r.url()));
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  const example = page.getByTestId('clip-example');
  await example.waitFor({ timeout: 10_000 });
  assert.match(await example.textContent(), /^Example, computed in advanceCLIP ViT-B\/32's probabilities for this photo/);
  assert.equal(await page.getByTestId('example-unverified').count(), 1, 'the tiny CLIP is not B/32\'s pinned file: said');
  const img = example.locator('img');
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  assert.equal(await img.evaluate((el) => [el.naturalWidth, el.naturalHeight].join('×')), '451×300', 'chelsea.png from the site');
  // The example is the golden's first case (chelsea.png, the lab's starting captions): the reference's numbers.
  const c = clip.json.cases[0];
  const rows = await example.getByTestId('example-row').locator('td.caption-text').allTextContents();
  assert.deepEqual(rows, c.captions);
  const shown = await example.getByTestId('example-prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  const worst = Math.max(...shown.map((p, i) => Math.abs(p - c.probs[i])));
  console.log(`CLIP example (tiny CLIP, computed natively at build time) ${shown} vs transformers ${c.probs}: max |Δ| ${worst.toExponential(2)}`);
  assert.ok(worst <= clip.json.tolerances.probs, `max |Δ| ${worst}`);
  assert.ok(!fetched.some((u) => /\/models\/|\/resolve\//.test(u)), 'nothing of the model was fetched to show it');
  await page.screenshot({ path: join(REPO, 'target/e2e/clip-example-first-visit.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await example.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(REPO, 'target/e2e/clip-example-phone.png') });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scroll on a phone');

  await page.getByTestId('use-example').click();
  await page.locator('[data-testid=drop-zone] img.original').waitFor({ timeout: 10_000 });
  await page.locator('#classify').click();
  await page.getByTestId('precision').waitFor({ timeout: 120_000 });
  assert.equal(await example.count(), 0, 'the real result replaced the example');
  const ours = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  const change = Math.max(...ours.map((p, i) => Math.abs(p - shown[i])));
  console.log(`"Use this image" + Classify with the site's 8-bit pack: ${ours}, max |Δ| ${change.toExponential(2)} from the example (f32)`);
  assert.ok(change <= INT8_PROB_BOUND, `${change}`);
  await finish(page, 'clip-example-replaced');
});

test('a pack folder from local files, on a site that bundles none: stored beside the full model, offered as 8-bit, no hub request', async () => {
  const plain = await setup(); // the plain dist/, with a loopback hub that must not be asked
  try {
    const page = await watchedPage(plain.context);
    await page.goto(plain.appUrl());
    await page.getByTestId('cache-panel').locator('summary').click();
    const local = page.getByTestId('local-files');
    const message = page.getByTestId('local-files-message');
    await local.getByTestId('local-model').selectOption(CLIP_REPO);
    const packDir = join(site, 'models', CLIP_REPO, 'resolve', packs[1].revision);
    const files = packs[1].files.map((f) => join(packDir, f.name));
    // A piece missing: said, nothing stored.
    await local.getByTestId('local-model-files').setInputFiles(files.filter((f) => !f.endsWith('model-00002-of-00002.safetensors')));
    await message.filter({ hasText: 'Missing from your files: model-00002-of-00002.safetensors.' }).waitFor({ timeout: 10_000 });
    await local.getByTestId('local-model-files').setInputFiles(files);
    await message.filter({ hasText: 'CLIP ViT-B/32 (8-bit) is stored from your files' }).waitFor({ timeout: 120_000 });
    await page.locator('#tab-clip').click();
    assert.equal(await page.getByTestId('clip-example').count(), 0, 'a site built without an example shows none');
    const option = page.locator('#clip-model option').first();
    await option.filter({ hasText: /from your files/ }).waitFor({ state: 'attached', timeout: 10_000 });
    assert.match(await option.textContent(), /^CLIP ViT-B\/32 — 8-bit · \d+ MB · from your files · stored, works offline · not verified/);
    await page.locator('#clip-model').selectOption(`${CLIP_REPO}:int8`);
    const c = clip.json.cases[0];
    await fillClipCase(page, c);
    await page.locator('#classify').click();
    await page.getByTestId('precision').waitFor({ timeout: 120_000 });
    assert.match(await page.getByTestId('precision').textContent(), /^Computed with 8-bit weights \(int8, a compact copy from your files\)/);
    const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
    const vsReference = Math.max(...probs.map((p, i) => Math.abs(p - c.probs[i])));
    console.log(`tiny CLIP int8 from local files ${probs}: vs transformers ${vsReference.toExponential(2)}`);
    assert.ok(vsReference <= INT8_PROB_BOUND + 1e-2, `int8 vs transformers: ${vsReference}`);
    if (siteProbs) assert.ok(probs.every((p, i) => Math.abs(p - siteProbs[i]) <= 1e-6), `the site's pack gave ${siteProbs}`);
    assert.equal(plain.hub.stats().totalRequests, 0, 'nothing was asked of the hub');
    await finish(page, 'local-pack-clip');
  } finally {
    await plain.close();
  }
});
