// The JavaScript package (pkg/, built by scripts/build_pkg.sh) on its committed example page: attention() on the
// real MiniLM from the loopback hub matches transformers' goldens, pairs with queries and keys too, models stay
// loaded and their weights stay in the app's IndexedDB store, clip() on the tiny CLIP gives the CLI's
// probabilities, maskToken gives the masked-word head's guesses, and bad options are rejected with a message that
// says why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { setup, watchedPage, finish, tinyGpt2Folder, REPO, GPT2_REPO, MINILM_REPO, MINILM_DIR, CLIP_REPO, TINY_CLIP_DIR } from './harness.mjs';
import { loadGolden } from './golden.mjs';

const TOL = 1e-4;
const PKG = join(REPO, 'pkg');
const bert = loadGolden('bert/minilm');
const clipGolden = loadGolden('clip/tiny-clip-b32');
let env;
// The loopback hub also serves the tiny BERT with a masked-word head (make_mlm.py) as google-bert/bert-base-cased.
const BERT_REPO = 'google-bert/bert-base-cased';
let mlmFolder, gpt2Folder;
before(async () => {
  gpt2Folder = await tinyGpt2Folder();
  const tiny = join(REPO, 'tests/fixtures/bert/tiny-bert');
  mlmFolder = await mkdtemp(join(tmpdir(), 'nlu-pkg-mlm-'));
  for (const f of ['config.json', 'tokenizer.json']) await symlink(join(tiny, f), join(mlmFolder, f));
  await symlink(join(tiny, 'model-mlm.safetensors'), join(mlmFolder, 'model.safetensors'));
  env = await setup({ root: PKG, entry: 'dist/nlu_lab.js', build: 'scripts/build_pkg.sh',
    hubModels: { [MINILM_REPO]: MINILM_DIR, [CLIP_REPO]: TINY_CLIP_DIR, [BERT_REPO]: mlmFolder, [GPT2_REPO]: gpt2Folder } });
});
after(async () => {
  await env?.close();
  for (const f of [mlmFolder, gpt2Folder]) if (f) await rm(f, { recursive: true, force: true });
});

/** Largest |a − b| over a [layers][heads] list of flat arrays against a [L, H, …] golden tensor. */
function worstDiff(perHead, golden) {
  const [L, H] = golden.shape;
  const size = golden.values.length / (L * H);
  let worst = 0;
  assert.equal(perHead.length, L);
  for (let l = 0; l < L; l++) {
    assert.equal(perHead[l].length, H);
    for (let h = 0; h < H; h++) {
      const mine = perHead[l][h];
      assert.equal(mine.length, size, `layer ${l} head ${h} size`);
      for (let i = 0; i < size; i++) worst = Math.max(worst, Math.abs(mine[i] - golden.values[(l * H + h) * size + i]));
    }
  }
  return worst;
}

/** The example page with the loopback hub in its URL, once its module is initialised (the buttons enabled). */
async function openExample(page) {
  await page.goto(env.appUrl({}, 'example/'));
  await page.locator('#run:enabled').waitFor();
}

test('the example page computes attention that matches transformers, and the package keeps the model', async () => {
  const page = await watchedPage(env.context);
  const hubRequests = [];
  page.on('request', (r) => { if (r.url().startsWith(env.hub.url)) hubRequests.push(r.url()); });
  await openExample(page);
  const c = bert.json.cases[0];
  await page.locator('#text').fill(c.text);
  const t0 = Date.now();
  await page.locator('#run').click();
  await page.locator('#matrix td').first().waitFor({ timeout: 90_000 });
  const firstMs = Date.now() - t0;
  const r = await page.evaluate(() => {
    const r = window.lastAttention;
    return { ...r, attention: r.attention.map((l) => l.map((h) => Array.from(h))),
      kind: r.attention[0][0].constructor.name, oneBuffer: r.attention[0][0].buffer === r.attention[5][11].buffer };
  });
  assert.deepEqual(r.tokens, c.tokens, 'the tokens of transformers\' tokenizer');
  assert.equal(r.model, MINILM_REPO);
  assert.equal(r.revision, '1110a243fdf4706b3f48f1d95db1a4f5529b4d41', 'the catalogue\'s pinned commit');
  assert.deepEqual([r.verified, r.warnings], [true, []]);
  assert.equal(r.textB, null);
  assert.deepEqual([r.layers, r.heads, r.headDim], [6, 12, 32]);
  assert.equal(r.kind, 'Float32Array');
  assert.ok(r.oneBuffer, 'the heads are views into one buffer');
  const worst = worstDiff(r.attention, bert.tensor('case0.attn'));
  assert.ok(worst <= TOL, `attention differs from transformers by ${worst}`);
  // The page draws the chosen layer and head: n × n cells carrying those weights.
  const n = c.tokens.length;
  await page.locator('#layer').selectOption('3');
  await page.locator('#head').selectOption('7');
  const cells = await page.locator('#matrix td').evaluateAll((tds) => tds.map((td) => +td.dataset.weight));
  assert.equal(cells.length, n * n);
  cells.forEach((w, i) => assert.ok(Math.abs(w - r.attention[3][7][i]) <= 1e-7));
  console.log(`package attention, first call (download + load + forward): `
    + `${firstMs} ms (load ${r.loadMs.toFixed(0)} ms, forward ${r.forwardMs.toFixed(0)} ms); max |Δ| vs transformers ${worst.toExponential(2)}`);
  assert.ok(hubRequests.some((u) => u.endsWith('/model.safetensors')), 'the weights came from the hub given in ?hub=');

  // A sentence pair with queries and keys, straight from the module: the loaded model is reused.
  const p = bert.json.cases[1];
  const pair = await page.evaluate(async ({ text, textB, hub }) => {
    const { attention } = await import(new URL('../dist/nlu_lab.js', location.href).href);
    const t0 = performance.now();
    const r = await attention(text, textB, { hub, queriesKeys: true, rollout: true });
    const ms = performance.now() - t0;
    const flat = (x) => x.map((l) => l.map((h) => Array.from(h)));
    return { ...r, attention: flat(r.attention), queries: flat(r.queries), keys: flat(r.keys), rollout: Array.from(r.rollout), ms };
  }, { text: p.text, textB: p.text_b, hub: env.hub.url });
  assert.deepEqual(pair.tokens, p.tokens);
  assert.equal(pair.loadMs, 0, 'the model stays loaded between calls');
  assert.deepEqual(pair.segments, pair.tokens.map((_, i) => (i <= p.tokens.indexOf('[SEP]') ? 0 : 1)));
  const wa = worstDiff(pair.attention, bert.tensor('case1.attn'));
  const wq = worstDiff(pair.queries, bert.tensor('case1.q'));
  const wk = worstDiff(pair.keys, bert.tensor('case1.k'));
  assert.ok(wa <= TOL && wq <= TOL && wk <= TOL, `pair: attention ${wa}, queries ${wq}, keys ${wk}`);
  // The rollout against NumPy's (tests/fixtures/make_rollout.py) on transformers' attention of the same pair.
  const rolloutRef = JSON.parse(readFileSync(join(REPO, 'tests/fixtures/bert/minilm/rollout.json'), 'utf8')).cases.find((c) => c.case === 1);
  const wr = Math.max(...pair.rollout.map((v, i) => Math.abs(v - rolloutRef.rollout[i])));
  assert.ok(pair.rollout.length === p.n * p.n && wr <= 1e-5, `rollout: ${pair.rollout.length} values, max |Δ| ${wr}`);
  // Heads switched off, against transformers' head_mask (tests/fixtures/make_head_mask.py) on the same pair.
  const masked = loadGolden('bert/minilm', 'head_mask');
  const ablated = await page.evaluate(async ({ text, textB, hub, headsOff }) => {
    const { attention } = await import(new URL('../dist/nlu_lab.js', location.href).href);
    const r = await attention(text, textB, { hub, headsOff });
    return r.attention.map((l) => l.map((h) => Array.from(h)));
  }, { text: p.text, textB: p.text_b, hub: env.hub.url, headsOff: masked.json.heads_off });
  const wm = worstDiff(ablated, masked.tensor('case1.attn'));
  assert.ok(wm <= TOL, `heads ${masked.json.heads_off} off: attention max |Δ| ${wm}`);
  console.log(`package attention, warm call (pair, ${pair.tokens.length} tokens, with queries/keys): ${pair.ms.toFixed(0)} ms `
    + `(forward ${pair.forwardMs.toFixed(0)} ms); max |Δ| attention ${wa.toExponential(2)}, q ${wq.toExponential(2)}, k ${wk.toExponential(2)}, rollout ${wr.toExponential(2)}, heads off ${wm.toExponential(2)}`);
  await finish(page, 'pkg-example-attention');

  // A new page (the module and its loaded models are gone): the weights come from the app's IndexedDB store.
  const again = await watchedPage(env.context);
  hubRequests.length = 0;
  again.on('request', (r) => { if (r.url().startsWith(env.hub.url)) hubRequests.push(r.url()); });
  await openExample(again);
  await again.locator('#run').click();
  await again.locator('#matrix td').first().waitFor({ timeout: 60_000 });
  assert.deepEqual(hubRequests, [], 'nothing downloaded again');
  const stores = await again.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.ok(stores.includes('nlu-lab-weights'), `the app's weights store: ${stores}`);
  await finish(again, 'pkg-example-attention-from-store');
});

test('clip() gives the reference probabilities, logits and input ids', async () => {
  const page = await watchedPage(env.context);
  await openExample(page);
  const c = clipGolden.json.cases[0];
  await page.locator('#image').setInputFiles(join(REPO, 'tests/fixtures', c.image));
  await page.locator('#captions').fill(c.captions.join('\n'));
  const t0 = Date.now();
  await page.locator('#classify').click();
  await page.locator('#probs li').nth(c.captions.length - 1).waitFor({ timeout: 120_000 });
  const ms = Date.now() - t0;
  const r = await page.evaluate(() => window.lastClip);
  assert.deepEqual(r.captions, c.captions);
  assert.deepEqual(r.inputIds, c.input_ids);
  assert.deepEqual(r.tokens, c.tokens);
  assert.ok(Math.abs(r.probs.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'probabilities sum to 1');
  // The same engine natively (the CLI, built by scripts/test.sh's first layer) on the same file: within 1e-4.
  const cli = JSON.parse(execFileSync('cargo', ['run', '--quiet', '--bin', 'nlu-lab', '--', 'clip', '--model', TINY_CLIP_DIR,
    '--image', join(REPO, 'tests/fixtures', c.image), ...c.captions.flatMap((t) => ['--caption', t])], { cwd: REPO, encoding: 'utf8' }));
  assert.deepEqual(r.inputIds, cli.input_ids);
  const diff = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  const [cliP, cliL] = [diff(r.probs, cli.probs), diff(r.logits, cli.logits)];
  assert.ok(cliP <= TOL && cliL <= TOL && Math.abs(r.logitScaleExp - cli.logit_scale_exp) <= TOL,
    `probs ${r.probs} vs CLI ${cli.probs}; logits ${r.logits} vs CLI ${cli.logits}`);
  // transformers (PIL's resize, not ours): the bound of the CLIP lab's test.
  const worstP = diff(r.probs, c.probs);
  assert.ok(worstP <= 1e-2, `probs ${r.probs} vs transformers ${c.probs}`);
  const shown = await page.locator('#probs li').evaluateAll((lis) => lis.map((li) => +li.dataset.prob));
  assert.deepEqual(shown, r.probs);
  console.log(`package clip (tiny CLIP, first call): ${ms} ms; max |Δ| vs the CLI: probs ${cliP.toExponential(2)}, `
    + `logits ${cliL.toExponential(2)}; probs vs transformers ${worstP.toExponential(2)}`);
  await finish(page, 'pkg-example-clip');
});

test('maskToken: the masked-word head\'s guesses, as transformers\' BertForMaskedLM gives them', async () => {
  const mlm = loadGolden('bert/tiny-bert', 'mlm');
  const c = mlm.json.cases[0];
  const page = await watchedPage(env.context);
  await openExample(page);
  const r = await page.evaluate(async ({ text, hub, model, position }) => {
    const { attention } = await import(new URL('../dist/nlu_lab.js', location.href).href);
    return attention(text, null, { hub, model, maskToken: position, predictions: 5 });
  }, { text: c.text, hub: env.hub.url, model: BERT_REPO, position: c.position });
  assert.equal(r.tokens[c.position], '[MASK]');
  assert.equal(r.predictions.position, c.position);
  assert.deepEqual(r.predictions.top.map((t) => t.token), c.top.map((t) => t.token));
  const worst = Math.max(...r.predictions.top.map((t, i) => Math.abs(t.prob - c.top[i].prob)), Math.abs(r.predictions.original.prob - c.original_prob));
  assert.ok(worst <= 1e-5, `guesses max |Δ| ${worst}`);
  console.log(`package maskToken (tiny BERT with a head): guesses vs transformers max |Δ| ${worst.toExponential(2)}`);
  await finish(page, 'pkg-mask-token');
});

test('GPT-2: causal attention and the next tokens, as transformers\' GPT2LMHeadModel gives them', async () => {
  const g = loadGolden('gpt2/tiny-gpt2');
  const c = g.json.cases[0];
  const page = await watchedPage(env.context);
  await openExample(page);
  const r = await page.evaluate(async ({ text, hub, model }) => {
    const { attention } = await import(new URL('../dist/nlu_lab.js', location.href).href);
    const r = await attention(text, null, { hub, model, predictions: 5 });
    const pair = await attention(text, 'a second text', { hub, model }).then(() => 'resolved', (e) => e.message);
    return { ...r, pair };
  }, { text: c.text, hub: env.hub.url, model: GPT2_REPO });
  assert.deepEqual(r.tokens, c.tokens);
  assert.equal(r.causal, true);
  const wa = worstDiff(r.attention, g.tensor('case0.attn'));
  assert.ok(wa <= TOL, `attention max |Δ| ${wa}`);
  assert.deepEqual(r.next.map((t) => t.token), c.next.map((t) => t.token));
  const wp = Math.max(...r.next.map((t, i) => Math.abs(t.prob - c.next[i].prob)));
  assert.ok(wp <= 1e-5, `next-token probabilities max |Δ| ${wp}`);
  assert.match(r.pair, /reads one text/);
  console.log(`package GPT-2 (tiny): attention vs transformers max |Δ| ${wa.toExponential(2)}, next tokens ${wp.toExponential(2)}`);
  await finish(page, 'pkg-gpt2');
});

test('bad arguments are rejected with a message that says why', async () => {
  const page = await watchedPage(env.context);
  await openExample(page);
  const errors = await page.evaluate(async (hub) => {
    const { attention, clip } = await import(new URL('../dist/nlu_lab.js', location.href).href);
    const reason = (p) => p.then(() => 'resolved', (e) => `${e.constructor.name}: ${e.message}`);
    return {
      hub: await reason(attention('x', null, { hub: 'http://example.com/hf' })),
      model: await reason(attention('x', null, { hub, model: 'someone/unknown-bert' })),
      family: await reason(attention('x', null, { hub, model: 'openai/clip-vit-base-patch32' })),
      option: await reason(attention('x', null, { hub, queries_keys: true })),
      noHead: await reason(attention('The cat sat.', null, { hub, maskToken: 2 })),
      textB: await reason(attention('x', { hub })),
      image: await reason(clip('not bytes', ['a cat'], { hub })),
      captions: await reason(clip(new Uint8Array(4), [], { hub })),
    };
  }, env.hub.url);
  assert.match(errors.hub, /^Error: hub "http:\/\/example.com\/hf" must be an https URL/);
  assert.match(errors.model, /not in nlu-lab's catalogue; choose one of: sentence-transformers\/all-MiniLM-L6-v2, /);
  assert.match(errors.family, /is not a BERT-family or GPT-2 model: use clip\(\)/);
  assert.match(errors.option, /unknown option "queries_keys" \(known: model, hub, revision, queriesKeys, rollout, headsOff, maskToken, predictions, onProgress\)/);
  assert.match(errors.noHead, /has no masked-word head/);
  assert.match(errors.textB, /textB must be a string, null or undefined/);
  assert.match(errors.image, /imageBytes must be a Uint8Array, an ArrayBuffer or a Blob/);
  assert.match(errors.captions, /captions is empty/);
  await finish(page, 'pkg-errors');
});

test('pkg/README.md shows the example page exactly as committed', () => {
  const readme = readFileSync(join(PKG, 'README.md'), 'utf8');
  const shown = readme.slice(readme.lastIndexOf('```html\n') + '```html\n'.length, readme.lastIndexOf('```'));
  assert.equal(shown, readFileSync(join(PKG, 'example/index.html'), 'utf8'), 'copy pkg/example/index.html into the README');
});
