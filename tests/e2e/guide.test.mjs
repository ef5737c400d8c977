// The assignment walked with the Guide panel, start to export, in one run: each step's button takes the student to
// its control (tab, focus), the work is done there (real MiniLM and the tiny CLIP from the loopback hub), and the
// step's check mark follows. Screenshots of the way: target/e2e/guide-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, watchedPage, finish, REPO, rawTokens, storedZipEntries } from './harness.mjs';
import { loadGolden } from './golden.mjs';

const clipGolden = loadGolden('clip/tiny-clip-b32');
let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

const SUGGESTED = "The animal didn't cross the street because it was too tired.";

// Time spent waiting on the app, per step, by visit (issue #18: printed, and copied into the README).
const waited = { 'first visit': [], 'second visit': [] };
async function timed(visit, what, wait) {
  const start = performance.now();
  const result = await wait();
  waited[visit].push([what, performance.now() - start]);
  return result;
}

/** The assignment as a student does it, with the guide; `visit` names the run in the timing table. */
async function walk(visit) {
  const page = await watchedPage(env.context);
  await timed(visit, 'open the page', async () => {
    await page.goto(env.appUrl());
    await page.getByTestId('guide-toggle').waitFor();
  });
  // Screenshots on the first visit; on the second only the check for problems the page reported.
  const shot = async (name) => {
    if (visit === 'first visit') return finish(page, name);
    if (page.problems.length) throw new Error(`page reported problems:\n${page.problems.join('\n')}`);
  };
  const guide = page.getByTestId('guide');
  assert.equal(await guide.isVisible(), false, 'closed until asked for');
  await page.getByTestId('guide-toggle').click();
  await guide.waitFor();
  const done = () => page.getByTestId('guide-step').evaluateAll((ss) => Object.fromEntries(ss.map((s) => [s.dataset.step, s.dataset.done === 'true'])));
  const doneSteps = async () => Object.entries(await done()).filter(([, d]) => d).map(([k]) => k);
  assert.deepEqual(await doneSteps(), [], 'nothing done yet');
  // The guide focuses a control once its tab is drawn (next animation frame): wait for it.
  const expectFocus = (name) => page.waitForFunction((n) => {
    const a = document.activeElement;
    return a && (a.id === n || a.dataset?.testid === n || a.classList?.contains(n));
  }, name, { timeout: 5_000 });
  const waitDone = (step) => page.locator(`[data-testid=guide-step][data-step="${step}"][data-done="true"]`).waitFor({ timeout: 5_000 });

  // §3.1: a suggested sentence fills Sentence A, which gets the focus.
  await page.getByTestId('guide-suggest').click();
  await waitDone('sentence');
  assert.equal(await page.locator('#text-a').inputValue(), SUGGESTED);
  await expectFocus('text-a');
  await shot('guide-1-sentence');

  // §3.2: "Go to Run" focuses Run; Enter runs it; the head view draws rows of attention that sum to 1.
  await page.getByTestId('guide-go-run').click();
  await expectFocus('run');
  await timed(visit, 'Run → head view drawn', async () => {
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  });
  await waitDone('head-view');
  const tokens = await rawTokens(page);
  assert.deepEqual(tokens.slice(0, 4), ['[CLS]', 'the', 'animal', 'didn']);
  const row = await page.locator('[data-testid=head-view] line.attn-line[data-head="0"][data-from="1"]')
    .evaluateAll((ls) => ls.reduce((s, l) => s + +l.dataset.weight, 0));
  assert.ok(Math.abs(row - 1) < 1e-4, `a row of head 0 sums to ${row}`);
  assert.equal(await page.getByTestId('guide-go-run').textContent(), 'Show the head view');
  await shot('guide-2-head-view');

  // §3.3: the neuron view's token selector gets the focus; choosing "it" shows q, k, q×k and a softmax that
  // equals the attention row.
  await page.getByTestId('guide-go-neuron').click();
  await expectFocus('neuron-token');
  const it = tokens.indexOf('it');
  await timed(visit, 'neuron view of "it"', async () => {
    await page.getByTestId('neuron-token').selectOption(String(it));
    await waitDone('neuron');
  });
  const bars = await page.getByTestId('softmax-bar').evaluateAll((bs) => bs.map((b) => [+b.dataset.weight, +b.dataset.attention]));
  assert.equal(bars.length, tokens.length);
  assert.ok(bars.every(([w, a]) => Math.abs(w - a) < 1e-4), 'softmax of q·k/√d = the attention row');
  assert.match(await page.locator('.query-row th').textContent(), /query q \(it\)/);
  await shot('guide-3-neuron');

  // §3.4: the head analysis; "attention to [SEP]"; open the strongest [SEP] head in the head view.
  await page.getByTestId('guide-go-analysis').click();
  await expectFocus('statistic');
  await page.getByTestId('statistic').selectOption('attention to [SEP]');
  const cells = await page.getByTestId('stat-cell').evaluateAll((bs) => bs.map((b) => ({ l: +b.dataset.layer, h: +b.dataset.head, v: +b.dataset.value })));
  const top = cells.reduce((a, b) => (b.v > a.v ? b : a));
  assert.ok(top.v > 0 && top.v <= 1);
  await timed(visit, 'head analysis → that head in the head view', async () => {
    await page.locator(`[data-testid=stat-cell][data-layer="${top.l}"][data-head="${top.h}"]`).click();
    await waitDone('compare');
  });
  assert.equal(await page.getByTestId('layer').inputValue(), String(top.l));
  const sepIndex = tokens.lastIndexOf('[SEP]');
  const toSep = await page.locator(`[data-testid=head-view] line.attn-line[data-to="${sepIndex}"]`).evaluateAll((ls) => ls.map((l) => +l.dataset.weight));
  assert.ok(Math.abs(toSep.reduce((s, w) => s + w, 0) / tokens.length - top.v) < 1e-3, 'the cell is the mean attention to [SEP]');
  await shot('guide-4-head-analysis');

  // §4.1: "Choose an image" switches to the CLIP lab and focuses the file input.
  const c = clipGolden.json.cases[1]; // coffee.png and 8 candidate captions
  await page.getByTestId('guide-go-image').click();
  assert.equal(await page.locator('#tab-clip').getAttribute('aria-selected'), 'true');
  await expectFocus('image-file');
  await timed(visit, 'image chosen → shown', async () => {
    await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures', c.image));
    await page.locator('img.original').waitFor();
  });
  await waitDone('image');

  // §4.2: two captions of one's own.
  await page.getByTestId('guide-go-captions').click();
  await expectFocus('caption');
  const [i, j] = [0, 7]; // 'a cup of coffee', 'a latte with foam art'
  await page.locator('input.caption').nth(0).fill(c.captions[i]);
  await page.locator('input.caption').nth(1).fill(c.captions[j]);
  await waitDone('captions');

  // §4.3: classify; the guide shows the top probability, equal to the two-way softmax of transformers' logits.
  await page.getByTestId('guide-go-classify').click();
  await expectFocus('classify');
  await timed(visit, 'Classify → probabilities', async () => {
    await page.keyboard.press('Enter');
    await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  });
  await waitDone('probabilities');
  const l = c.logits_per_image;
  const pairTop = (a, b) => 1 / (1 + Math.exp(-Math.abs(l[a] - l[b])));
  const shown = +(await guide.locator('[data-step=confusing]').textContent()).match(/top probability is ([0-9]+\.[0-9]+)/)[1];
  assert.ok(Math.abs(shown - pairTop(i, j)) < 1e-2, `guide shows ${shown}, transformers ${pairTop(i, j)}`);
  assert.ok(shown >= 0.6, 'this first pair is not confusing');
  assert.equal((await done()).confusing, false);
  await shot('guide-5-probabilities');

  // §4.4: the caption search ranks the candidates' pairs; the most confusing pair, classified, is below 0.6.
  await page.getByTestId('guide-go-search').click();
  await expectFocus('candidates');
  await page.getByTestId('candidates').fill(c.captions.join('\n'));
  const best = page.locator('[data-testid=ranked] li').first();
  await timed(visit, 'caption search (8 candidates) → ranked pairs', async () => {
    await page.getByTestId('search').click();
    await best.waitFor({ timeout: 120_000 });
  });
  await best.getByRole('button', { name: 'Use this pair' }).click();
  const pair = await page.locator('input.caption').evaluateAll((is) => is.map((x) => x.value));
  await timed(visit, 'Classify the pair → below 0.6', async () => {
    await page.locator('#classify').click();
    await page.locator('[data-testid=guide-step][data-step="confusing"][data-done="true"]').waitFor({ timeout: 60_000 });
  });
  const [a, b] = pair.map((p) => c.captions.indexOf(p));
  const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  assert.ok(Math.max(...probs) < 0.6);
  assert.ok(Math.abs(Math.max(...probs) - pairTop(a, b)) < 1e-2, `${probs} vs transformers' ${pairTop(a, b)}`);
  assert.match(await page.getByTestId('verdict').textContent(), /^Confusing/);
  await shot('guide-6-confusing');

  // §4.5: the hand-in: the JSON holds the confusing pair; every step is checked.
  await page.getByTestId('guide-go-export').click();
  await expectFocus('submit-handin');
  const [dl] = await timed(visit, 'Download hand-in → the zip', () => Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]));
  assert.equal(dl.suggestedFilename(), 'clip-handin.zip');
  const json = JSON.parse(storedZipEntries(readFileSync(await dl.path()))['submission.json'].toString('utf8'));
  assert.deepEqual(json.captions, pair);
  assert.equal(json.confusing, true);
  await waitDone('export');
  assert.deepEqual(Object.values(await done()), Array(9).fill(true), 'all nine steps done');
  // The whole checklist (the panel scrolls on its own beside the lab).
  if (visit === 'first visit') {
    await page.evaluate(() => { const g = document.querySelector('.guide-column'); g.style.maxHeight = 'none'; g.style.position = 'static'; });
    await guide.screenshot({ path: join(REPO, 'target/e2e/guide-checklist.png') });
  }
  await shot('guide-7-all-done');
  await page.close();
}

function report(visit) {
  const rows = waited[visit];
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  const lines = rows.map(([what, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${what}`);
  const text = `assignment §3 + §4, ${visit}: ${(total / 1000).toFixed(1)} s waiting on the app\n${lines.join('\n')}`;
  console.log(text);
  return text;
}

test('the guide walks §3 and §4 from a sentence to the exported submission (first visit: models downloaded)', async () => {
  await walk('first visit');
  report('first visit');
});

test('the same walk on a second visit (models read from this browser), timed', async () => {
  await walk('second visit');
  const text = ['first visit', 'second visit'].map(report).join('\n');
  writeFileSync(join(REPO, 'target/e2e/assignment-timing.txt'), `${text}\n`);
});
