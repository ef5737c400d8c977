// GPT-2 in the attention lab as a student uses it: the tiny random GPT-2 of tests/fixtures/gpt2/ (GPT-2's real
// byte-level BPE tokenizer, make_gpt2.py) served by the loopback hub as openai-community/gpt2 (harness.mjs's
// tinyGpt2Folder: its small files fitted to the sizes the catalogue checks); its weights are not the pinned ones
// and the lab says so. Checked against transformers' GPT2LMHeadModel: the causal head view (no line to a later token), the
// neuron view stopping at the query, the next-token guesses, and with heads off as head_mask gives them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setup, watchedPage, finish, tinyGpt2Folder, REPO, GPT2_REPO, MINILM_REPO, MINILM_DIR, CLIP_REPO, TINY_CLIP_DIR } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';

const golden = loadGolden('gpt2/tiny-gpt2');
const masked = loadGolden('gpt2/tiny-gpt2', 'head_mask');
let env, folder;

before(async () => {
  folder = await tinyGpt2Folder();
  env = await setup({ hubModels: { [MINILM_REPO]: MINILM_DIR, [CLIP_REPO]: TINY_CLIP_DIR, [GPT2_REPO]: folder } });
});
after(async () => {
  await env?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

const nextTokens = (page) => page.getByTestId('next-token').evaluateAll((ps) =>
  ps.map((p) => ({ token: p.dataset.token, prob: +p.dataset.prob, text: p.textContent })));
const drawnLines = (page) => page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
  ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));

test('GPT-2: causal head view, neuron view up to the query, the next-token guesses of GPT2LMHeadModel', async () => {
  const c = golden.json.cases[0];
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ model: GPT2_REPO, text: c.text }));
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  // Tokens as GPT-2 makes them, shown without Ġ.
  const raw = await page.locator('[data-testid=tokens] li').evaluateAll((ls) => ls.map((l) => l.dataset.raw));
  assert.deepEqual(raw, c.tokens);
  const shown = await page.locator('[data-testid=tokens] li').allTextContents();
  assert.ok(shown.every((t) => !t.includes('Ġ')), `shown without Ġ: ${shown.join('|')}`);
  assert.equal(shown[1].trim(), 'cat');
  assert.equal(await page.getByTestId('mask-token').count(), 0, 'a decoder has no word to mask');
  assert.ok(await page.locator('#text-b').isDisabled(), 'a decoder reads one text');
  await page.getByTestId('causal-note').waitFor();
  // Every layer: no line to a later token, and the lines are transformers' weights.
  const attn = golden.tensor('case0.attn');
  let worst = 0, lines = 0;
  for (let layer = 0; layer < golden.json.layers; layer++) {
    await page.getByTestId('layer').selectOption(String(layer));
    await page.waitForFunction((l) => document.querySelector('[data-testid=layer]').value === String(l), layer);
    const drawn = await drawnLines(page);
    assert.ok(drawn.length > 0);
    const later = drawn.filter((l) => l.to > l.from);
    assert.equal(later.length, 0, `layer ${layer}: lines to a later token: ${JSON.stringify(later.slice(0, 3))}`);
    // Each row has a line to every token up to its own (causal softmax leaves none at zero).
    assert.equal(drawn.length, golden.json.heads * c.n * (c.n + 1) / 2, `layer ${layer}: every allowed line drawn`);
    worst = Math.max(worst, ...drawn.map((l) => Math.abs(l.weight - attention(attn, layer, l.head, l.from, l.to))));
    lines += drawn.length;
  }
  assert.ok(worst <= 1e-4, `head view vs transformers: max |Δ| ${worst}`);
  // The neuron view: q×k and softmax for the keys at or before the query only.
  const q = 3;
  await page.getByTestId('neuron-token').selectOption(String(q));
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=softmax-bar]').length === n, q + 1);
  assert.equal(await page.getByTestId('masked-key').count(), c.n - q - 1);
  const bars = await page.getByTestId('softmax-bar').evaluateAll((bs) => bs.map((b) => [+b.dataset.weight, +b.dataset.attention]));
  const wn = Math.max(...bars.map(([w, a]) => Math.abs(w - a)));
  assert.ok(wn <= 1e-5, `neuron view softmax vs the attention row: ${wn}`);
  // The next token, as GPT2LMHeadModel guesses it.
  const next = await nextTokens(page);
  assert.deepEqual(next.map((t) => t.token), c.next.map((t) => t.token), 'the five next tokens');
  const wp = Math.max(...next.map((t, i) => Math.abs(t.prob - c.next[i].prob)));
  assert.ok(wp <= 1e-5, `next-token probabilities max |Δ| ${wp}`);
  assert.match(await page.getByTestId('next-word').textContent(), /guesses for the next token/);
  // Not the pinned weights: the lab says so.
  assert.match(await page.getByTestId('attention-status').textContent(), /model\.safetensors from .* is not the file the catalogue pins/);
  // Its small files are on record by size only: the selector says the checksum is what is unknown.
  assert.match(await page.locator('#model option:checked').textContent(), /not verified: checksum unknown/);
  console.log(`GPT-2 head view: ${lines} lines over ${golden.json.layers} layers, none to a later token, max |Δ| ${worst.toExponential(2)}; neuron view ${wn.toExponential(2)}; next tokens ${wp.toExponential(2)}`);
  await page.getByTestId('head-view').scrollIntoViewIfNeeded();
  await finish(page, 'gpt2-head-view');
});

test('GPT-2 with heads off: the next tokens as transformers\' head_mask gives them, each beside its value before', async () => {
  const c = masked.json.cases[0];
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ model: GPT2_REPO, text: c.text }));
  await page.getByTestId('next-token').first().waitFor({ timeout: 90_000 });
  for (const item of masked.json.heads_off.split(',')) {
    const [l, h] = item.split(':');
    await page.locator(`[data-testid=off-cell][data-layer="${l}"][data-head="${h}"]`).click();
    await page.locator(`[data-testid=off-cell][data-layer="${l}"][data-head="${h}"][aria-pressed=true]`).waitFor();
  }
  const next = await nextTokens(page);
  assert.deepEqual(next.map((t) => t.token), c.next.map((t) => t.token), 'the five next tokens with heads off');
  const wp = Math.max(...next.map((t, i) => Math.abs(t.prob - c.next[i].prob)));
  assert.ok(wp <= 1e-5, `with heads off, next-token probabilities max |Δ| ${wp}`);
  // Beside each: its probability with every head on, where that run had it among its five.
  const before = new Map(c.next_all_on.map((t) => [t.token, t.prob]));
  for (const t of next) {
    if (before.has(t.token)) assert.match(t.text, / → /, `${t.token} shows its probability before`);
    else assert.match(t.text, /not in the top 5/);
  }
  // The switched-off heads' lines are gone from the head view (their attention is zero).
  const [l0, h0] = masked.json.heads_off.split(',')[0].split(':').map(Number);
  await page.getByTestId('layer').selectOption(String(l0));
  await page.waitForFunction((l) => document.querySelector('[data-testid=layer]').value === String(l), l0);
  assert.equal((await drawnLines(page)).filter((l) => l.head === h0).length, 0, 'no line of a head that is off');
  assert.match(page.url(), /off=/);
  console.log(`GPT-2 heads ${masked.json.heads_off} off: next tokens vs head_mask max |Δ| ${wp.toExponential(2)}: ${next.map((t) => t.token).join(' ')}`);
  await page.getByTestId('next-word').scrollIntoViewIfNeeded();
  await finish(page, 'gpt2-heads-off');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByTestId('next-word').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(REPO, 'target/e2e/gpt2-phone.png') });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scroll');
});

test('compare: GPT-2 beside MiniLM on the same sentence, causal on its side only', async () => {
  const c = golden.json.cases[0];
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ model: MINILM_REPO, text: c.text }));
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  await page.getByTestId('compare').locator('summary').click();
  await page.locator('#compare-model').selectOption(GPT2_REPO);
  await page.locator('#compare-text').fill(c.text);
  await page.locator('#run-compare').click();
  const gpt2Lines = page.getByTestId('compare-view').locator('line.attn-line');
  await gpt2Lines.first().waitFor({ state: 'attached', timeout: 60_000 });
  const lines = (loc) => loc.evaluateAll((ls) => ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  const gpt2 = await lines(gpt2Lines);
  assert.equal(gpt2.filter((l) => l.to > l.from).length, 0, 'GPT-2: no line to a later token');
  const attn = golden.tensor('case0.attn');
  const worst = Math.max(...gpt2.map((l) => Math.abs(l.weight - attention(attn, 0, l.head, l.from, l.to))));
  assert.ok(worst <= 1e-4, `GPT-2 side vs transformers: ${worst}`);
  const minilm = await lines(page.locator('.side-by-side > div').first().locator('line.attn-line'));
  assert.ok(minilm.some((l) => l.to > l.from), 'MiniLM (an encoder) attends to later tokens too');
  console.log(`compare MiniLM | GPT-2: ${minilm.length} and ${gpt2.length} lines, GPT-2's layer 0 vs transformers ${worst.toExponential(2)}`);
  await page.getByTestId('compare-view').scrollIntoViewIfNeeded();
  await finish(page, 'gpt2-compare');
});
