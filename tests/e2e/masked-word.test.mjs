// Masked words as a student uses them: with a checkpoint that ships a masked-word head (the tiny BERT of
// tests/fixtures/bert/ with a random head, served by the loopback hub as google-bert/bert-base-cased, whose files
// the catalogue cannot pin), click a word, see the five guesses transformers' BertForMaskedLM gives (make_mlm.py), then
// switch heads off and see them change as transformers' head_mask says (make_head_mask.py --masked-lm). MiniLM has
// no head: the lab says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish, REPO, MINILM_REPO, MINILM_DIR, CLIP_REPO, TINY_CLIP_DIR } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';

const BERT_REPO = 'google-bert/bert-base-cased';
const TINY = join(REPO, 'tests/fixtures/bert/tiny-bert');
const mlm = loadGolden('bert/tiny-bert', 'mlm');
const masked = loadGolden('bert/tiny-bert', 'mlm_head_mask');
let env, folder;

before(async () => {
  // The tiny BERT's files, with the masked-LM checkpoint as model.safetensors.
  folder = await mkdtemp(join(tmpdir(), 'nlu-tiny-bert-mlm-'));
  for (const f of ['config.json', 'tokenizer.json']) await symlink(join(TINY, f), join(folder, f));
  await symlink(join(TINY, 'model-mlm.safetensors'), join(folder, 'model.safetensors'));
  env = await setup({ hubModels: { [MINILM_REPO]: MINILM_DIR, [CLIP_REPO]: TINY_CLIP_DIR, [BERT_REPO]: folder } });
});
after(async () => {
  await env?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

// As the lab writes a probability (masked_word.rs): four decimals, or 6.1e-5 below 0.001.
const shownProb = (p) => (p < 1e-3 ? p.toExponential(1) : p.toFixed(4));
const guesses = (page, testid = 'prediction') => page.getByTestId(testid).evaluateAll((ps) =>
  ps.map((p) => ({ token: p.dataset.token, prob: +p.dataset.prob })));

test('MiniLM has no masked-word head, and says so', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.locator('#run').click();
  await page.getByTestId('no-masked-lm').waitFor({ timeout: 90_000 });
  assert.match(await page.getByTestId('no-masked-lm').textContent(), /has no masked-word head/);
  assert.equal(await page.getByTestId('mask-token').count(), 0, 'no word to click');
  await finish(page, 'masked-word-minilm');
});

test('mask a word: the guesses of transformers\' BertForMaskedLM; heads off change them as head_mask says', async () => {
  const c = mlm.json.cases[0];
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ model: BERT_REPO, text: c.text }));
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  await page.locator(`[data-testid=mask-token][data-index="${c.position}"]`).click();
  await page.getByTestId('masked-word').waitFor({ timeout: 30_000 });
  let got = await guesses(page);
  assert.deepEqual(got.map((g) => g.token), c.top.map((t) => t.token), 'the top 5');
  let worst = Math.max(...got.map((g, i) => Math.abs(g.prob - c.top[i].prob)));
  const [original] = await guesses(page, 'original-prediction');
  assert.equal(original.token, c.original_token);
  worst = Math.max(worst, Math.abs(original.prob - c.original_prob));
  assert.ok(worst <= 1e-5, `probabilities max |Δ| ${worst}`);
  // The masked sentence's attention is drawn.
  assert.equal(await page.locator('[data-testid=tokens] li').nth(c.position).getAttribute('data-raw'), '[MASK]');
  const lines = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  const attn = mlm.tensor('case0.attn');
  const wa = Math.max(...lines.map((l) => Math.abs(l.weight - attention(attn, 0, l.head, l.from, l.to))));
  assert.ok(wa <= 1e-4, `masked sentence's attention max |Δ| ${wa}`);
  assert.equal(await page.getByText('This result has no queries and keys').count(), 0, 'the neuron view has the masked sentence\'s queries and keys');
  console.log(`masked token ${c.position} (${c.original_token}): guesses vs transformers max |Δ| ${worst.toExponential(2)}, attention ${wa.toExponential(2)}`);
  assert.match(page.url(), new RegExp(`mask=${c.position}`));
  await finish(page, 'masked-word-guesses');

  // Heads off, one click each: the guesses as transformers' head_mask gives them, each beside its value before.
  const t0 = Date.now();
  for (const item of masked.json.heads_off.split(',')) {
    const [l, h] = item.split(':');
    await page.locator(`[data-testid=off-cell][data-layer="${l}"][data-head="${h}"]`).click();
    await page.locator(`[data-testid=off-cell][data-layer="${l}"][data-head="${h}"][aria-pressed=true]`).waitFor();
  }
  const ms = Date.now() - t0;
  got = await guesses(page);
  assert.deepEqual(got.map((g) => g.token), masked.json.top.map((t) => t.token), 'the top 5 with heads off');
  const [after] = await guesses(page, 'original-prediction');
  const wo = Math.abs(after.prob - masked.json.original_prob);
  assert.ok(wo <= 1e-5, `the original token with heads off: ${after.prob} vs ${masked.json.original_prob}`);
  assert.match(await page.getByTestId('original-prediction').textContent(), new RegExp(`${shownProb(original.prob)} → ${shownProb(after.prob)}`));
  console.log(`heads ${masked.json.heads_off} off (two clicks, ${ms} ms): original token ${original.prob.toExponential(2)} → ${after.prob.toExponential(2)} (transformers ${masked.json.original_prob.toExponential(2)})`);
  await page.getByTestId('masked-word').scrollIntoViewIfNeeded();
  await finish(page, 'masked-word-heads-off');
  // On a phone, the guesses fit.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByTestId('masked-word').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(REPO, 'target/e2e/masked-word-phone.png') });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scroll');
});
