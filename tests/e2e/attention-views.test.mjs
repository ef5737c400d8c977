// What a student does in the attention lab, against the real MiniLM from the loopback hub: the drawn lines carry
// the model's attention (compared with transformers' goldens), head toggling and soloing, hovering, the pair
// filter, the neuron view's softmax, and that HTML in the input stays text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, watchedPage, finish, rawTokens } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';

const TOL = 1e-4;
const golden = loadGolden('bert/minilm');
let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

async function runSentence(page, text, textB = '') {
  await page.locator('#text-a').fill(text);
  await page.locator('#text-b').fill(textB);
  const t0 = Date.now();
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  return Date.now() - t0;
}

const lines = (page) => page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
  ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));

function assertMatches(drawn, attn, layer, rowOffset = 0, colOffset = 0) {
  let worst = 0;
  for (const l of drawn) {
    const want = attention(attn, layer, l.head, l.from + rowOffset, l.to + colOffset);
    worst = Math.max(worst, Math.abs(l.weight - want));
  }
  assert.ok(worst <= TOL, `drawn weights differ from transformers by ${worst}`);
  return worst;
}

test('head view lines carry the attention of each layer and head', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const ms = await runSentence(page, golden.json.cases[0].text);
  console.log(`run → head view drawn (download + load + forward): ${ms} ms`);
  const attn = golden.tensor('case0.attn');
  const n = golden.json.cases[0].n;
  assert.deepEqual(await rawTokens(page), golden.json.cases[0].tokens);
  let drawn = await lines(page);
  assert.equal(drawn.length, 12 * n * n, 'every head draws n×n lines');
  const w0 = assertMatches(drawn, attn, 0);
  await page.getByTestId('layer').selectOption('4');
  await page.waitForFunction(() => true);
  drawn = await lines(page);
  const w4 = assertMatches(drawn, attn, 4);
  console.log(`max |Δ| drawn vs transformers: layer 0 ${w0.toExponential(2)}, layer 4 ${w4.toExponential(2)}`);
  await finish(page, 'head-view-layer4');

  // Toggle head 0 off: its lines go; the others stay.
  await page.locator('.head-square[data-head="0"]').click();
  drawn = await lines(page);
  assert.equal(drawn.filter((l) => l.head === 0).length, 0);
  assert.equal(drawn.length, 11 * n * n);
  // Double-click head 5: only head 5. Double-click again: all heads back.
  await page.locator('.head-square[data-head="5"]').dblclick();
  drawn = await lines(page);
  assert.deepEqual([...new Set(drawn.map((l) => l.head))], [5]);
  await finish(page, 'head-view-solo-head5');
  await page.locator('.head-square[data-head="5"]').dblclick();
  drawn = await lines(page);
  assert.equal(new Set(drawn.map((l) => l.head)).size, 12);
  // The last active head cannot be switched off.
  await page.locator('.head-square[data-head="2"]').dblclick();
  await page.locator('.head-square[data-head="2"]').click({ delay: 0 });
  await page.waitForTimeout(400);
  assert.equal(await page.locator('.head-square.on').count(), 1);
  await page.locator('.head-square[data-head="2"]').dblclick();

  // Hover a left token: only its lines, and a box per head in the right column.
  await page.locator('text.token.left').nth(2).hover();
  drawn = await lines(page);
  assert.ok(drawn.length > 0 && drawn.every((l) => l.from === 2));
  const boxes = await page.locator('rect.attn-box').count();
  assert.equal(boxes, 12 * n);
  await finish(page, 'head-view-hover');
});

test('pair filter A→B shows the block from sentence A to sentence B', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const c = golden.json.cases[1];
  await runSentence(page, c.text, c.text_b);
  const firstB = c.sequence_ids.indexOf(1);
  await page.getByTestId('pair-filter').selectOption('A→B');
  await page.waitForTimeout(200);
  const drawn = await lines(page);
  const rows = new Set(drawn.map((l) => l.from)), cols = new Set(drawn.map((l) => l.to));
  assert.equal(rows.size, firstB, 'rows: sentence A with [CLS] and its [SEP]');
  assert.equal(cols.size, c.n - firstB, 'columns: sentence B with its [SEP]');
  assertMatches(drawn, golden.tensor('case1.attn'), 0, 0, firstB);
  const right = await page.locator('text.token.right').allTextContents();
  assert.deepEqual(right, c.tokens.slice(firstB));
  await finish(page, 'head-view-pair-a-to-b');
});

test('neuron view softmax bars equal the attention row', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await runSentence(page, golden.json.cases[0].text);
  await page.getByTestId('neuron-layer').selectOption('2');
  await page.getByTestId('neuron-head').selectOption('7');
  await page.getByTestId('neuron-token').selectOption('3');
  await page.waitForTimeout(200);
  const bars = await page.locator('[data-testid=softmax-bar]').evaluateAll((bs) => bs.map((b) => +b.dataset.weight));
  const attn = golden.tensor('case0.attn');
  assert.equal(bars.length, golden.json.cases[0].n);
  bars.forEach((w, j) => assert.ok(Math.abs(w - attention(attn, 2, 7, 3, j)) <= TOL, `bar ${j}: ${w}`));
  await page.getByTestId('neuron-view').scrollIntoViewIfNeeded();
  await finish(page, 'neuron-view');
  // By keyboard alone: Tab from the layer to the head and token selectors, arrows change them, and Tab reaches the
  // table (focusable, so its wide rows scroll by arrow keys).
  await page.getByTestId('neuron-layer').focus();
  await page.keyboard.press('ArrowDown'); // layer 3
  await page.keyboard.press('Tab');
  await page.keyboard.press('ArrowUp'); // head 6
  await page.keyboard.press('Tab');
  await page.keyboard.press('ArrowDown'); // token 4
  assert.deepEqual(await Promise.all(['neuron-layer', 'neuron-head', 'neuron-token'].map((id) => page.getByTestId(id).inputValue())), ['3', '6', '4']);
  const byKeys = await page.locator('[data-testid=softmax-bar]').evaluateAll((bs) => bs.map((b) => +b.dataset.weight));
  byKeys.forEach((w, j) => assert.ok(Math.abs(w - attention(attn, 3, 6, 4, j)) <= TOL, `bar ${j} after the keys: ${w}`));
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset?.testid), 'neuron-view');
});

test('HTML in the input renders as text and never executes', async () => {
  const page = await watchedPage(env.context);
  let dialogs = 0;
  page.on('dialog', (d) => { dialogs += 1; d.dismiss(); });
  await page.goto(env.appUrl());
  const c = golden.json.cases[4];
  await runSentence(page, c.text);
  assert.deepEqual(await rawTokens(page), c.tokens);
  // Shown as a student reads them: a word's later WordPiece without its "##", marked "·" (the raw token in the
  // tooltip), in the token list and in the head view's columns.
  const shown = c.tokens.map((t) => (t.startsWith('##') && t.length > 2 ? `·${t.slice(2)}` : t));
  assert.ok(shown.some((t) => t.startsWith('·')), 'the case has a split word');
  assert.deepEqual(await page.locator('[data-testid=tokens] li').allTextContents(), shown);
  assert.deepEqual(await page.locator('[data-testid=tokens] li').evaluateAll((ls) => ls.map((l) => l.title)), c.tokens);
  assert.deepEqual(await page.locator('[data-testid=head-view] text.token.left').allTextContents(), shown);
  assert.deepEqual(await page.locator('[data-testid=head-view] g.token-label > title').allTextContents(),
    [...c.tokens, ...c.tokens]);
  assert.equal(await page.locator('main img').count(), 0);
  await page.waitForTimeout(300);
  assert.equal(dialogs, 0);
  await finish(page, 'xss-as-text');
});

test('empty input gives a clear message, not a crash', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.locator('#text-a').fill('   ');
  await page.locator('#run').click();
  await page.getByRole('alert').filter({ hasText: 'enter some text' }).waitFor({ timeout: 60_000 });
  await finish(page, 'empty-input');
});

test('model view opens a layer and head in the head view; head analysis labels positional heads', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await runSentence(page, golden.json.cases[0].text);
  const canvas = page.getByTestId('model-view');
  await canvas.scrollIntoViewIfNeeded();
  await finish(page, 'model-view');
  // Thumbnails are 84 px: click layer 3, head 7.
  await canvas.click({ position: { x: 7 * 84 + 40, y: 3 * 84 + 40 } });
  assert.equal(await page.getByTestId('layer').inputValue(), '3');
  const drawn = await lines(page);
  assert.deepEqual([...new Set(drawn.map((l) => l.head))], [7]);
  assertMatches(drawn, golden.tensor('case0.attn'), 3);
  // By keyboard: Tab to the canvas, arrows to layer 1 head 2, Enter opens it; a live region says where the ring is.
  await canvas.focus();
  for (const key of ['Home', 'ArrowUp', 'ArrowUp', 'ArrowRight', 'ArrowRight']) await page.keyboard.press(key);
  assert.equal(await page.getByTestId('model-view-cell').textContent(), 'layer 1, head 2: Enter opens it in the head view');
  await page.keyboard.press('Enter');
  assert.equal(await page.getByTestId('layer').inputValue(), '1');
  assert.deepEqual([...new Set((await lines(page)).map((l) => l.head))], [2]);
  // Head analysis: every head has a cell, values are the statistic, roles name clear-cut heads.
  const cells = page.getByTestId('stat-cell');
  assert.equal(await cells.count(), 6 * 12);
  const attn = golden.tensor('case0.attn');
  const n = golden.json.cases[0].n;
  const cell = await cells.nth(2 * 12 + 5).evaluate((b) => ({ l: +b.dataset.layer, h: +b.dataset.head, v: +b.dataset.value }));
  let prev = 0;
  for (let i = 1; i < n; i++) prev += attention(attn, cell.l, cell.h, i, i - 1);
  assert.ok(Math.abs(cell.v - prev / (n - 1)) < 1e-4, 'attention to the previous token, averaged over rows');
  const roles = await cells.evaluateAll((bs) => bs.map((b) => b.dataset.role).filter(Boolean));
  assert.ok(roles.length > 0, 'some heads get a role');
  await page.getByTestId('head-analysis').scrollIntoViewIfNeeded();
  await finish(page, 'head-analysis');
  await cells.nth(5).click();
  assert.equal(await page.getByTestId('layer').inputValue(), '0');
  assert.deepEqual([...new Set((await lines(page)).map((l) => l.head))], [5]);
});

test('the permalink restores model, sentences, layer and heads', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const c = golden.json.cases[1];
  await runSentence(page, c.text, c.text_b);
  await page.getByTestId('layer').selectOption('2');
  await page.locator('.head-square[data-head="6"]').dblclick();
  await page.waitForTimeout(200);
  const url = page.url();
  assert.match(url, /layer=2/);
  assert.match(url, /heads=6/);
  const again = await watchedPage(env.context);
  await again.goto(url);
  await again.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  assert.equal(await again.locator('#text-a').inputValue(), c.text);
  assert.equal(await again.locator('#text-b').inputValue(), c.text_b);
  assert.equal(await again.getByTestId('layer').inputValue(), '2');
  const drawn = await lines(again);
  assert.deepEqual([...new Set(drawn.map((l) => l.head))], [6]);
  assertMatches(drawn, golden.tensor('case1.attn'), 2);
  await finish(again, 'permalink-restored');
  await finish(page, 'permalink-source');
});

test('dark and light themes: follows the system, switchable', async () => {
  const page = await watchedPage(env.context);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(env.appUrl());
  await runSentence(page, golden.json.cases[1].text, golden.json.cases[1].text_b);
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await bg(), 'rgb(21, 23, 26)', 'dark by the system setting');
  await page.locator('.head-square[data-head="3"]').hover();
  await finish(page, 'views-dark');
  await page.getByTestId('theme-toggle').click();
  assert.equal(await bg(), 'rgb(255, 255, 255)', 'switched to light');
  await finish(page, 'views-light');
  await page.getByTestId('theme-toggle').click();
  await page.locator('#tab-clip').click();
  await finish(page, 'clip-lab-dark');
});

test('exports: JSON, SVG, PNG, and a standalone HTML that renders offline', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const c = golden.json.cases[0];
  await runSentence(page, c.text);
  const save = async (id) => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId(id).click()]);
    return { name: dl.suggestedFilename(), bytes: readFileSync(await dl.path()) };
  };
  const json = await save('export-json');
  assert.equal(json.name, 'attention.json');
  const parsed = JSON.parse(json.bytes.toString('utf8'));
  assert.equal(parsed.schema, 'nlu-lab/attention@1');
  assert.deepEqual(parsed.tokens, c.tokens);
  assert.ok(Math.abs(parsed.attention[3][2][4][5] - attention(golden.tensor('case0.attn'), 3, 2, 4, 5)) < TOL);
  const svg = await save('export-svg');
  const svgText = svg.bytes.toString('utf8');
  assert.match(svgText, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok((svgText.match(/<line /g) || []).length === 12 * c.n * c.n);
  const png = await save('export-png');
  assert.deepEqual([...png.bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.ok(png.bytes.length > 2000);
  const html = await save('export-html');
  const file = `${process.env.TMPDIR ?? '/tmp'}/nlu-lab-standalone-${process.pid}.html`;
  writeFileSync(file, html.bytes);
  await env.context.setOffline(true);
  try {
    const offline = await watchedPage(env.context);
    await offline.goto(`file://${file}`);
    const drawn = await offline.locator('svg line').evaluateAll((ls) => ls.map((l) => ({ head: +l.dataset.head, weight: +l.dataset.weight })));
    assert.equal(drawn.length, 12 * c.n * c.n);
    await offline.locator('text').nth(0).hover();
    assert.equal(await offline.locator('svg line').count(), 12 * c.n);
    await finish(offline, 'standalone-html-offline');
  } finally {
    await env.context.setOffline(false);
  }
  await finish(page, 'exports');
});

test('compare: a second sentence side by side, same layer and heads', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await runSentence(page, golden.json.cases[0].text);
  await page.getByTestId('compare').locator('summary').click();
  await page.locator('#compare-text').fill(golden.json.cases[2].text);
  await page.locator('#run-compare').click();
  const compareLines = page.getByTestId('compare-view').locator('line.attn-line');
  await compareLines.first().waitFor({ state: 'attached', timeout: 60_000 });
  await page.getByTestId('layer').first().selectOption('3');
  await page.locator('.head-square[data-head="4"]').first().dblclick();
  await page.waitForTimeout(300);
  const drawn = await compareLines.evaluateAll((ls) => ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  assert.deepEqual([...new Set(drawn.map((l) => l.head))], [4], 'the comparison follows the head selection');
  assertMatches(drawn, golden.tensor('case2.attn'), 3);
  await page.getByTestId('compare-view').scrollIntoViewIfNeeded();
  await finish(page, 'compare-side-by-side');
});

test('the rollout layer: every token\'s attention rolled out through all layers, as NumPy computes it from transformers\' attention; kept in the permalink', async () => {
  const { readFileSync } = await import('node:fs');
  const reference = JSON.parse(readFileSync(new URL('../fixtures/bert/minilm/rollout.json', import.meta.url), 'utf8'));
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const c = reference.cases[1]; // the pair
  await runSentence(page, c.text, c.text_b);
  await page.getByTestId('layer').selectOption('rollout');
  await page.getByTestId('rollout-note').waitFor();
  const drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  assert.equal(drawn.length, c.n * c.n, 'one line per token pair, not one per head');
  assert.ok(drawn.every((l) => l.head === 'rollout'));
  const worst = Math.max(...drawn.map((l) => Math.abs(l.weight - c.rollout[l.from * c.n + l.to])));
  console.log(`rollout drawn vs NumPy (${reference.reference}) on transformers' attention: max |Δ| ${worst.toExponential(2)}`);
  assert.ok(worst <= 1e-5, `rollout differs by ${worst}`);
  await page.waitForTimeout(300);
  assert.match(page.url(), /layer=rollout/);
  await finish(page, 'head-view-rollout');
  const again = await watchedPage(env.context);
  await again.goto(page.url());
  await again.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  assert.equal(await again.getByTestId('layer').inputValue(), 'rollout');
  assert.equal(await again.locator('[data-testid=head-view] line.attn-line').count(), c.n * c.n);
  await finish(again, 'head-view-rollout-permalink');
});

test('switching heads off: the model reruns as transformers\' head_mask says, the change map shows what changed, the permalink keeps it', async () => {
  const masked = loadGolden('bert/minilm', 'head_mask');
  const off = masked.json.heads_off; // "0:3,1:0,1:5,3:7,5:11"
  const c = golden.json.cases[0];
  const page = await watchedPage(env.context);
  // Opened from a permalink with those heads off.
  await page.goto(env.appUrl({ text: c.text, off }));
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  await page.getByTestId('heads-off-summary').filter({ hasText: 'Off: 0:3, 1:0, 1:5, 3:7, 5:11. Largest change' }).waitFor();
  const attn = masked.tensor('case0.attn');
  let drawn = await lines(page);
  assert.equal(drawn.filter((l) => l.head === 3).length, 0, 'head 0:3 is off: no lines');
  let worst = assertMatches(drawn, attn, 0);
  await page.getByTestId('layer').selectOption('4');
  drawn = await lines(page);
  worst = Math.max(worst, assertMatches(drawn, attn, 4));
  console.log(`heads ${off} off, drawn vs transformers' head_mask (4.57): max |Δ| ${worst.toExponential(2)} (layers 0 and 4)`);
  // The change map: nothing in layer 0's heads still on (they run before anything changed); later layers changed.
  const cells = await page.getByTestId('off-cell').evaluateAll((cs) =>
    cs.map((c) => ({ l: +c.dataset.layer, h: +c.dataset.head, change: +c.dataset.change, off: c.getAttribute('aria-pressed') === 'true' })));
  assert.equal(cells.filter((x) => x.off).map((x) => `${x.l}:${x.h}`).join(','), off);
  assert.ok(cells.filter((x) => x.l === 0 && !x.off).every((x) => x.change === 0), 'layer 0 unchanged');
  assert.ok(cells.some((x) => x.l === 2 && x.change > 1e-2), 'layer 2 changed');
  await finish(page, 'heads-off-permalink');

  // All back on: the original attention.
  await page.getByTestId('heads-on').click();
  await page.getByTestId('heads-off-summary').filter({ hasText: 'Every head is on' }).waitFor();
  drawn = await lines(page);
  assertMatches(drawn, golden.tensor('case0.attn'), 4);
  assert.doesNotMatch(page.url(), /off=/);
  // One head off by a click: layers before it unchanged, later ones changed; timed from the click to the redraw.
  const t0 = Date.now();
  await page.locator('[data-testid=off-cell][data-layer="2"][data-head="4"]').click();
  await page.locator('[data-testid=off-cell][data-layer="2"][data-head="4"][aria-pressed=true]').waitFor();
  const ms = Date.now() - t0;
  const after = await page.getByTestId('off-cell').evaluateAll((cs) => cs.map((c) => ({ l: +c.dataset.layer, change: +c.dataset.change })));
  assert.ok(after.filter((x) => x.l < 2).every((x) => x.change === 0), 'layers 0 and 1 run before head 2:4');
  assert.ok(after.filter((x) => x.l > 2).some((x) => x.change > 1e-3), 'later layers changed');
  assert.match(page.url(), /off=2%3A4/);
  console.log(`switch head 2:4 off → rerun and redraw (MiniLM, ${c.n} tokens, loaded model): ${ms} ms`);
  await finish(page, 'heads-off-click');
});

test('averages over layers and heads, and the strongest-lines threshold', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const c = golden.json.cases[0];
  const attn = golden.tensor('case0.attn');
  const n = c.n;
  await runSentence(page, c.text);
  // Mean of all layers, one head.
  await page.getByTestId('layer').selectOption('mean');
  await page.locator('.head-square[data-head="2"]').dblclick();
  let drawn = await lines(page);
  let worst = 0;
  for (const l of drawn) {
    let m = 0; for (let L = 0; L < 6; L++) m += attention(attn, L, 2, l.from, l.to);
    worst = Math.max(worst, Math.abs(l.weight - m / 6));
  }
  assert.equal(drawn.length, n * n);
  assert.ok(worst <= TOL, `mean over layers differs by ${worst}`);
  // Average of all heads in layer 1.
  await page.locator('.head-square[data-head="2"]').dblclick();
  await page.getByTestId('layer').selectOption('1');
  await page.getByTestId('average-heads').check();
  drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) => ls.map((l) => ({ head: l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  assert.ok(drawn.every((l) => l.head === 'mean') && drawn.length === n * n);
  worst = 0;
  for (const l of drawn) {
    let m = 0; for (let h = 0; h < 12; h++) m += attention(attn, 1, h, l.from, l.to);
    worst = Math.max(worst, Math.abs(l.weight - m / 12));
  }
  assert.ok(worst <= TOL, `mean over heads differs by ${worst}`);
  // Strongest lines making up 50 % of each row: fewer lines, each row keeps at least half its attention.
  await page.getByTestId('top-mass').fill('50');
  drawn = await page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) => ls.map((l) => ({ from: +l.dataset.from, weight: +l.dataset.weight })));
  assert.ok(drawn.length < n * n);
  for (let r = 0; r < n; r++) {
    const kept = drawn.filter((l) => l.from === r).reduce((s, l) => s + l.weight, 0);
    assert.ok(kept >= 0.5 - 1e-4, `row ${r} keeps ${kept}`);
  }
  await finish(page, 'head-view-average-threshold');
});

// A long input's lines are on a canvas; hovering a token shows its lines as SVG, weights on them.
const hoverLines = async (page, side, i) => {
  await page.locator(`[data-testid=head-view] text.token.${side}`).nth(i).hover();
  await page.locator('[data-testid=head-view] line.attn-line').first().waitFor({ state: 'attached' });
  return lines(page);
};
const frame = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

test('a 144-token paragraph stays usable (timings for the record)', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const short = await runSentence(page, 'The quick brown fox jumps over the lazy dog near the river bank.'); // 16 tokens
  const c = golden.json.cases[5];
  const t0 = Date.now();
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=tokens] li').nth(c.n - 1).waitFor({ state: 'attached', timeout: 90_000 });
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=head-view] text.token.left').length === n, c.n);
  await frame(page);
  const long = Date.now() - t0;
  const t1 = Date.now();
  await page.getByTestId('model-view').scrollIntoViewIfNeeded();
  await frame(page);
  const model = Date.now() - t1;
  console.log(`run → head view drawn: 16 tokens ${short} ms (incl. first download), ${c.n} tokens ${long} ms; model view on screen after ${model} ms more`);
  assert.equal(await page.getByTestId('head-view').getAttribute('data-render'), 'canvas', `${c.n} tokens × 12 heads are drawn on a canvas`);
  assert.equal(await page.locator('[data-testid=head-view] line.attn-line').count(), 0);
  // Hovering shows that token's lines of 1 % and more (fainter ones are invisible), each with its weight.
  const attn = golden.tensor('case5.attn');
  for (const [side, i] of [['left', 0], ['left', 70], ['right', c.n - 1]]) {
    const drawn = await hoverLines(page, side, i);
    assert.ok(drawn.every((l) => (side === 'left' ? l.from : l.to) === i && l.weight >= 0.01 - 1e-6));
    const shown = new Set(drawn.map((l) => `${l.head} ${l.from} ${l.to}`));
    for (let h = 0; h < 12; h++) {
      for (let j = 0; j < c.n; j++) {
        const [from, to] = side === 'left' ? [i, j] : [j, i];
        if (attention(attn, 0, h, from, to) >= 0.01 + 1e-5) assert.ok(shown.has(`${h} ${from} ${to}`), `line ${h} ${from}→${to} is shown`);
      }
    }
    assertMatches(drawn, attn, 0);
  }
  await page.mouse.move(0, 0);
  // Still responsive: a layer change redraws.
  const t2 = Date.now();
  await page.getByTestId('layer').selectOption('5');
  await frame(page);
  console.log(`layer change at ${c.n} tokens: ${Date.now() - t2} ms`);
  assertMatches(await hoverLines(page, 'left', 12), golden.tensor('case5.attn'), 5);
  await page.mouse.move(0, 0);
  await frame(page);
  await finish(page, 'head-view-144-tokens');
});

// The JSON and standalone HTML exports of a 512-token input (MiniLM: 18.9 M weights): the page opens offline,
// draws its lines on a canvas, and its base64 Float32 payload decodes (built-in decoder and the atob fallback) to
// the very f32s of the JSON export.
async function checkExports512(page) {
  const { readFileSync, rmSync } = await import('node:fs');
  const save = async (id) => {
    const t0 = Date.now();
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByTestId(id).click()]);
    const path = await dl.path();
    return { path, ms: Date.now() - t0 };
  };
  const json = await save('export-json');
  const html = await save('export-html');
  const parsed = JSON.parse(readFileSync(json.path, 'utf8'));
  const sizes = [json.path, html.path].map((p) => (readFileSync(p).length / 1e6).toFixed(1));
  console.log(`512-token exports: JSON ${sizes[0]} MB in ${json.ms} ms, standalone HTML ${sizes[1]} MB in ${html.ms} ms`);
  assert.equal(parsed.tokens.length, 512);
  const file = `${process.env.TMPDIR ?? '/tmp'}/nlu-lab-standalone-512-${process.pid}.html`;
  (await import('node:fs')).copyFileSync(html.path, file);
  // Sampled cells (and the first and last), [layer, head, from, to].
  const cells = [[0, 0, 0, 0], [5, 11, 511, 511]];
  for (let s = 1; cells.length < 400; s++) cells.push([s % 6, (s * 7) % 12, (s * 131) % 512, (s * 337) % 512]);
  await env.context.setOffline(true);
  try {
    for (const query of ['', '?decoder=atob']) {
      const offline = await watchedPage(env.context);
      await offline.goto(`file://${file}${query}`);
      await offline.waitForFunction(() => window.nluLabAttention, null, { timeout: 120_000 });
      const got = await offline.evaluate((cells) => {
        const { meta, weights, decoder, firstDraw } = window.nluLabAttention;
        const n = meta.tokens.length;
        const values = cells.map(([l, h, i, j]) => weights[((l * meta.heads + h) * n + i) * n + j]);
        const c = document.getElementById('lines');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let painted = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
        return { values, decoder, firstDraw, painted, count: weights.length, svgLines: document.querySelectorAll('svg line').length,
          firstDrawMark: performance.getEntriesByName('nlu-lab:first-draw')[0].startTime };
      }, cells);
      assert.equal(got.decoder, query ? 'atob' : 'fromBase64');
      assert.equal(got.count, 6 * 12 * 512 * 512);
      assert.equal(got.firstDraw.render, 'canvas');
      assert.equal(got.svgLines, 0, 'no SVG lines above the threshold');
      assert.ok(got.painted > 10_000, `painted pixels: ${got.painted}`);
      cells.forEach(([l, h, i, j], k) => assert.equal(got.values[k], Math.fround(parsed.attention[l][h][i][j]), `cell ${l} ${h} ${i} ${j}`));
      console.log(`standalone page at 512 tokens (${got.decoder}): first draw at ${got.firstDrawMark.toFixed(0)} ms after navigation (decode ${got.firstDraw.decodeMs.toFixed(0)} ms, draw ${got.firstDraw.drawMs.toFixed(0)} ms)`);
      await finish(offline, `standalone-html-512${query ? '-atob' : ''}`);
      await offline.close();
    }
  } finally {
    await env.context.setOffline(false);
    rmSync(file, { force: true });
  }
}

test('512 tokens: the head view scrolls, stays responsive, and exports its canvas lines', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  const text = Array.from({ length: 60 }, (_, i) => `Sentence ${i} says that attention heads look at other words.`).join(' ');
  const t0 = Date.now();
  await page.locator('#text-a').fill(text);
  await page.locator('#run').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=head-view] text.token.left').length === 512, null, { timeout: 120_000 });
  await frame(page);
  const drawnMs = Date.now() - t0;
  assert.match(await page.getByTestId('attention-status').textContent(), /^512 tokens/);
  assert.equal(await page.getByTestId('head-view').getAttribute('data-render'), 'canvas');
  const t1 = Date.now();
  const drawn = await hoverLines(page, 'left', 300);
  const hoverMs = Date.now() - t1;
  assert.ok(drawn.length > 12 && drawn.every((l) => l.from === 300 && l.weight >= 0.01 - 1e-6 && l.weight <= 1));
  for (let h = 0; h < 12; h++) {
    const sum = drawn.filter((l) => l.head === h).reduce((a, l) => a + l.weight, 0);
    assert.ok(sum <= 1 + 1e-4, `head ${h}: the hovered row's shown weights sum to ${sum}, more than its softmax`);
  }
  await page.mouse.move(0, 0);
  const t2 = Date.now();
  await page.getByTestId('layer').selectOption('3');
  await frame(page);
  const layerMs = Date.now() - t2;
  // The canvas really holds lines: some of its pixels are painted.
  const painted = await page.getByTestId('head-view-canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });
  assert.ok(painted > 10_000, `painted pixels: ${painted}`);
  // The exported SVG carries the canvas lines as an image.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-svg').click()]);
  const svg = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  assert.match(svg, /<image [^>]*href="data:image\/png;base64,/);
  console.log(`512 tokens: run → head view drawn ${drawnMs} ms; hover a token ${hoverMs} ms; layer change ${layerMs} ms`);
  await checkExports512(page);
  await page.getByTestId('head-view').scrollIntoViewIfNeeded();
  await finish(page, 'head-view-512-tokens');
});
