// Embedding in a course page: the lab's Embed button writes an <iframe> snippet with the current view's state; a
// plain HTML page on a second loopback origin pastes it, the embedded head view runs the real MiniLM on the
// linked sentence, shows only that view, and tells the page its height, which the snippet's script applies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish } from './harness.mjs';
import { loadGolden, attention } from './golden.mjs';
import { startStatic } from '../../scripts/static-server.mjs';

const TOL = 1e-4;
const golden = loadGolden('bert/minilm');
let env, courseDir, course;
before(async () => {
  env = await setup();
  courseDir = await mkdtemp(join(tmpdir(), 'nlu-course-'));
  course = await startStatic({ root: courseDir });
});
after(async () => {
  await course?.close();
  if (courseDir) await rm(courseDir, { recursive: true, force: true });
  await env?.close();
});

/** The snippet the Embed button of `lab` shows, after choosing `view`. */
async function snippetFor(lab, view) {
  const button = lab.getByTestId('embed');
  if (await button.getAttribute('aria-expanded') !== 'true') await button.click();
  if (view) await lab.getByTestId('embed-view').selectOption(view);
  return lab.getByTestId('embed-snippet').inputValue();
}
const attentionLab = (page) => page.locator('section[aria-labelledby="attention-lab-title"]');

test('a course page on another origin embeds the head view and sizes the iframe from its height message', async () => {
  const c = golden.json.cases[0];
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.locator('#text-a').fill(c.text);
  await page.locator('#run').click();
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  await page.getByTestId('layer').selectOption('2');
  await page.locator('.head-square[data-head="3"]').dblclick();

  assert.equal(await attentionLab(page).getByTestId('embed-snippet').isVisible(), false, 'the snippet shows on request');
  // The snippet carries the state shown: the sentence, layer 2, head 3, the hub, and the view.
  const snippet = await snippetFor(attentionLab(page), 'head');
  const src = snippet.match(/<iframe src="([^"]+)"/)[1].replaceAll('&amp;', '&');
  const params = new URL(src).searchParams;
  assert.equal(params.get('embed'), 'head');
  assert.equal(params.get('text'), c.text);
  assert.equal(params.get('layer'), '2');
  assert.equal(params.get('heads'), '3');
  assert.equal(params.get('model'), 'sentence-transformers/all-MiniLM-L6-v2');
  assert.equal(params.get('hub'), env.hub.url);
  assert.match(snippet, /width="100%" height="\d+" style="border:0" loading="lazy" title="nlu-lab: head view"/);
  assert.match(snippet, /addEventListener\('message'[\s\S]*nlu-lab:height[\s\S]*f\.height = e\.data\.height/);
  assert.ok(!/src="[^"]*&(?!amp;)/.test(snippet), 'ampersands in the src are escaped for HTML');
  // The model view's snippet differs only in the view.
  const modelSnippet = await snippetFor(attentionLab(page), 'model');
  assert.match(modelSnippet, /embed=model/);
  await finish(page, 'embed-snippet');

  // A plain course page on a second origin (another loopback port) pastes the snippet, plus a recorder.
  await writeFile(join(courseDir, 'index.html'), `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Course</title></head>
<body><h1>Week 3: attention</h1><p>Which tokens does "it" attend to?</p>
<script>window.heights = []; addEventListener('message', (e) => { if (e.data?.type === 'nlu-lab:height') heights.push({ height: e.data.height, origin: e.origin }); });</script>
${snippet}
<p>End of the page.</p></body></html>`);
  assert.notEqual(new URL(course.url).origin, new URL(env.site.url).origin, 'two origins');
  const host = await watchedPage(env.context);
  await host.goto(course.url);
  const frame = host.frameLocator('iframe');
  await frame.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  // The last message carries the drawn view's height, and the snippet's script gave it to the iframe.
  const inner = host.frames().find((f) => f.url().startsWith(env.site.url));
  const bodyHeight = () => inner.evaluate(() => Math.ceil(document.body.getBoundingClientRect().height));
  await host.waitForFunction((h) => window.heights.at(-1)?.height === h && +document.querySelector('iframe').height === h, await bodyHeight());
  const heights = await host.evaluate(() => window.heights);
  const last = heights.at(-1);
  console.log(`height messages: ${heights.map((h) => h.height).join(', ')}`);
  assert.equal(last.origin, new URL(env.site.url).origin, 'the message comes from the app origin');
  assert.ok(last.height > 100, `height ${last.height}`);

  // Inside: only the head view (no tabs, header or cache panel), with the linked layer and head.
  assert.equal(await inner.locator('[role=tablist]').count(), 0);
  assert.equal(await inner.locator('.app-header').count(), 0);
  assert.equal(await inner.getByTestId('cache-panel').count(), 0);
  assert.equal(await inner.getByTestId('model-view').count(), 0);
  assert.equal(await inner.getByTestId('layer').inputValue(), '2');
  const drawn = await inner.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
    ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from, to: +l.dataset.to, weight: +l.dataset.weight })));
  assert.equal(drawn.length, c.n * c.n, 'one head: n×n lines');
  assert.ok(drawn.every((l) => l.head === 3));
  const attn = golden.tensor('case0.attn');
  const worst = Math.max(...drawn.map((l) => Math.abs(l.weight - attention(attn, 2, 3, l.from, l.to))));
  assert.ok(worst <= TOL, `embedded lines differ from transformers by ${worst}`);
  // The iframe shows all of its content: its height is the body's, and nothing scrolls.
  const inside = await inner.evaluate(() => ({ scroll: document.documentElement.scrollHeight, view: window.innerHeight }));
  assert.equal(inside.view, last.height);
  assert.ok(inside.scroll <= inside.view + 1, `no scrolling inside: ${JSON.stringify(inside)}`);
  // The link back opens the full app with the same state, in a new tab.
  const open = inner.getByTestId('open-full');
  assert.equal(await open.getAttribute('target'), '_blank');
  const back = new URL(await open.getAttribute('href'));
  assert.equal(back.searchParams.get('embed'), null);
  assert.equal(back.searchParams.get('text'), c.text);
  assert.equal(back.searchParams.get('heads'), '3');
  await finish(host, 'embed-course-page');
});

test('the CLIP lab embeds with its captions', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl({ text: 'An attention permalink.' })); // state of the other lab, in the URL
  await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
  await page.locator('#tab-clip').click();
  const captions = page.locator('input.caption');
  await captions.nth(0).fill('a latte with foam art');
  await captions.nth(1).fill('a cup of coffee');
  const snippet = await snippetFor(page.locator('.lab[aria-label="CLIP lab"]'));
  const src = new URL(snippet.match(/<iframe src="([^"]+)"/)[1].replaceAll('&amp;', '&'));
  assert.equal(src.searchParams.get('embed'), 'clip');
  assert.deepEqual(src.searchParams.getAll('caption'), ['a latte with foam art', 'a cup of coffee']);
  assert.equal(src.searchParams.get('text'), null, "the attention lab's state stays out");
  assert.match(snippet, /title="nlu-lab: CLIP lab"/);
  const embedded = await watchedPage(env.context);
  await embedded.goto(src.href);
  await embedded.locator('input.caption').first().waitFor();
  assert.deepEqual(await embedded.locator('input.caption').evaluateAll((is) => is.map((i) => i.value)), ['a latte with foam art', 'a cup of coffee']);
  assert.equal(await embedded.locator('[role=tablist]').count(), 0);
  assert.equal(await embedded.getByTestId('embed').count(), 0, 'no Embed button inside an embed');
  assert.equal(await embedded.getByTestId('open-full').count(), 1);
  await finish(embedded, 'embed-clip');
});

test('embedded neuron and model views start at the linked layer and head', async () => {
  const c = golden.json.cases[0];
  const attn = golden.tensor('case0.attn');
  const neuron = await watchedPage(env.context);
  await neuron.goto(env.appUrl({ embed: 'neuron', text: c.text, layer: '2', heads: '7' }));
  await neuron.getByTestId('softmax-bar').first().waitFor({ timeout: 90_000 });
  assert.equal(await neuron.getByTestId('neuron-layer').inputValue(), '2');
  assert.equal(await neuron.getByTestId('neuron-head').inputValue(), '7');
  assert.equal(await neuron.getByTestId('head-view').count(), 0, 'only the neuron view');
  await neuron.getByTestId('neuron-token').selectOption('3');
  const bars = await neuron.getByTestId('softmax-bar').evaluateAll((bs) => bs.map((b) => +b.dataset.weight));
  bars.forEach((w, j) => assert.ok(Math.abs(w - attention(attn, 2, 7, 3, j)) <= TOL, `bar ${j}: ${w}`));
  await finish(neuron, 'embed-neuron');

  const model = await watchedPage(env.context);
  await model.goto(env.appUrl({ embed: 'model', text: c.text }));
  const canvas = model.getByTestId('model-view');
  await canvas.waitFor({ timeout: 90_000 });
  assert.equal(await model.getByTestId('head-view').count(), 0, 'only the model view');
  assert.equal(await model.getByTestId('neuron-view').count(), 0);
  await model.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const inked = await canvas.evaluate((cv) => {
    const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1; return n;
  });
  assert.ok(inked > 1000, `the thumbnails are drawn (${inked} pixels)`);
  await finish(model, 'embed-model');
});
