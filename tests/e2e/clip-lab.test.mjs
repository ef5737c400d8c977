// The CLIP lab as a student uses it, against a CLIP of ViT-B/32's shape (2 layers, synthetic weights) served by
// the loopback hub: a real photo in, two captions, probabilities equal to transformers' (end to end, our own
// preprocessing), the 0.6 verdict, and the caption search over 8 candidates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setup, watchedPage, finish, REPO, TINY_CLIP_DIR, storedZipEntries } from './harness.mjs';
import { loadGolden } from './golden.mjs';

const TOL = 1e-2; // end to end with our own preprocessing (the bound; measured natively ~2e-5)
const golden = loadGolden('clip/tiny-clip-b32');
let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

async function openWithImage(page, image) {
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures', image));
  await page.locator('img.original').waitFor();
}

test('a photo and two captions give the reference probabilities and the verdict', async () => {
  const page = await watchedPage(env.context);
  const c = golden.json.cases[0];
  await openWithImage(page, c.image);
  const captions = page.locator('input.caption');
  await captions.nth(0).fill(c.captions[0]);
  await captions.nth(1).fill(c.captions[1]);
  const t0 = Date.now();
  await page.locator('#classify').click();
  await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  console.log(`classify (first run: download + load + forward): ${Date.now() - t0} ms`);
  const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5, 'probabilities sum to 1');
  const worst = Math.max(...probs.map((p, i) => Math.abs(p - c.probs[i])));
  console.log(`probabilities ${probs} vs transformers ${c.probs}: max |Δ| ${worst.toExponential(2)}`);
  assert.ok(worst <= TOL);
  const verdict = await page.getByTestId('verdict').textContent();
  assert.match(verdict, Math.max(...c.probs) < 0.6 ? /^Confusing/ : /^Not confusing yet/);
  const t1 = Date.now();
  await page.locator('#classify').click();
  await page.locator('.status', { hasText: 'captions scored' }).waitFor();
  console.log(`classify again (model cached in the worker): ${Date.now() - t1} ms`);
  await finish(page, 'clip-two-captions');
});

test('caption search ranks the pairs of 8 candidates by confusion', async () => {
  const page = await watchedPage(env.context);
  const c = golden.json.cases[1];
  assert.equal(c.captions.length, 8);
  await openWithImage(page, c.image);
  await page.getByTestId('candidates').fill(c.captions.join('\n'));
  await page.getByTestId('search').click();
  const ranked = page.locator('[data-testid=ranked] li');
  await ranked.first().waitFor({ timeout: 120_000 });
  assert.equal(await ranked.count(), 10);
  // The reference ranking from transformers' logits.
  const l = c.logits_per_image;
  const pairs = [];
  for (let i = 0; i < l.length; i++) for (let j = i + 1; j < l.length; j++) pairs.push([i, j, 1 / (1 + Math.exp(-Math.abs(l[i] - l[j])))]);
  pairs.sort((a, b) => a[2] - b[2]);
  const first = await ranked.first().locator('span').textContent();
  const top = +first.match(/top ([0-9.]+)/)[1];
  assert.ok(Math.abs(top - pairs[0][2]) < TOL, `${first} vs ${pairs[0]}`);
  await ranked.first().getByRole('button', { name: 'Use this pair' }).click();
  assert.equal(await page.locator('input.caption').count(), 2);
  await finish(page, 'clip-caption-search');
});

test('a broken image file gets a clear message', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  await page.getByTestId('image-file').setInputFiles({ name: 'empty.png', mimeType: 'image/png', buffer: Buffer.alloc(0) });
  await page.locator('#classify').click();
  await page.getByRole('alert').waitFor({ timeout: 120_000 });
  const msg = await page.getByRole('alert').textContent();
  assert.ok(msg.length > 10 && !/panicked|RuntimeError/.test(msg), msg);
  await finish(page, 'clip-empty-file');
});

test('attention heatmap over the crop, a caption head view, and the submission PNG + JSON', async () => {
  const { readFileSync } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const page = await watchedPage(env.context);
  const c = golden.json.cases[0];
  await openWithImage(page, c.image);
  await page.locator('#classify').click();
  await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  // The heatmap canvas has red pixels (rollout by default), and changes with the layer.
  const redness = () => page.getByTestId('vision-heatmap').evaluate((cv) => {
    const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i]; return s;
  });
  const rollout = await redness();
  assert.ok(rollout > 0, 'heatmap drawn');
  await page.getByTestId('vision-layer').selectOption('1');
  assert.notEqual(await redness(), rollout);
  // The caption's causal attention: the first token's row has one line.
  const firstRow = await page.locator('.caption-attention line.attn-line[data-from="0"]').count();
  assert.equal(firstRow, 8, 'causal: token 0 attends only to itself, once per head (8 heads)');
  // Its tokens read as words: CLIP's "</w>" only in the raw token (the tooltip).
  const raw = await page.locator('.caption-attention text.token.left').evaluateAll((ts) => ts.map((t) => t.dataset.raw));
  const shown = await page.locator('.caption-attention text.token.left').allTextContents();
  assert.ok(raw.some((t) => t.endsWith('</w>')), `raw tokens ${raw}`);
  assert.ok(shown.every((t) => !t.includes('</w>')), `shown tokens ${shown}`);
  assert.deepEqual(shown.map((t) => t.replace(/^·/, '')), raw.map((t) => (t === '</w>' ? t : t.replace(/<\/w>$/, ''))));
  const save = async (id) => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId(id).click()]);
    return { name: dl.suggestedFilename(), bytes: readFileSync(await dl.path()) };
  };
  const png = await save('submit-png');
  assert.equal(png.name, 'clip-submission.png');
  assert.deepEqual([...png.bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const alone = JSON.parse((await save('submit-json')).bytes.toString('utf8'));
  // The hand-in: one zip with the image exactly as chosen, the card, and the same JSON.
  const handin = await save('submit-handin');
  assert.equal(handin.name, 'clip-handin.zip');
  const entries = storedZipEntries(handin.bytes);
  assert.deepEqual(Object.keys(entries).sort(), ['README.txt', 'card.png', `image.${c.image.split('.').pop()}`, 'submission.json'].sort());
  const imageBytes = readFileSync(join(REPO, 'tests/fixtures', c.image));
  assert.ok(entries[`image.${c.image.split('.').pop()}`].equals(imageBytes), 'the image as the student chose it');
  assert.deepEqual([...entries['card.png'].subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  assert.match(entries['README.txt'].toString('utf8'), /nlu-lab check clip-handin.zip --model DIR/);
  const json = JSON.parse(entries['submission.json'].toString('utf8'));
  assert.deepEqual(json, alone);
  assert.deepEqual(json.captions, c.captions);
  const imageSha = createHash('sha256').update(imageBytes).digest('hex');
  assert.equal(json.image_sha256, imageSha);
  // The weights that computed it, by the sha256 of the bytes this browser stored.
  const servedWeights = createHash('sha256').update(readFileSync(join(TINY_CLIP_DIR, 'model.safetensors'))).digest('hex');
  assert.deepEqual(json.weights, [{ name: 'model.safetensors', sha256: servedWeights }]);
  assert.equal(json.precision, 'f32');
  assert.match(json.app_version, /^\d+\.\d+\.\d+/);
  assert.equal(json.revision, '3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268', 'the commit of the small files');
  // The test's CLIP is a tiny random one under B/32's name: not the pinned files, and the hand-in says so.
  assert.equal(json.weights_verified, false);
  assert.ok(json.weights_warnings.some((w) => w.startsWith('model.safetensors from http://127.0.0.1:')), json.weights_warnings);
  assert.ok(Math.abs(json.probabilities[0] - c.probs[0]) < TOL);
  assert.equal(json.confusing, Math.max(...c.probs) < 0.6);
  await finish(page, 'clip-heatmap-and-submission');
});

test('camera: take a photo and classify it', async () => {
  const page = await watchedPage(env.context);
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  await page.getByTestId('camera-open').click();
  await page.waitForFunction(() => document.querySelector('video.camera-preview')?.videoWidth > 0, null, { timeout: 20_000 });
  await page.getByTestId('camera-shoot').click();
  await page.locator('img.original').waitFor();
  await page.locator('#classify').click();
  await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  assert.ok(Math.abs(probs[0] + probs[1] - 1) < 1e-5);
  await finish(page, 'clip-camera');
});

test('an image dropped on the drop zone, or pasted, is used', async () => {
  const { readFileSync } = await import('node:fs');
  const page = await watchedPage(env.context);
  const c = golden.json.cases[5]; // greyscale image, two captions
  await page.goto(env.appUrl());
  await page.locator('#tab-clip').click();
  const b64 = readFileSync(join(REPO, 'tests/fixtures', c.image)).toString('base64');
  const dt = await page.evaluateHandle((data) => {
    const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    return transfer;
  }, b64);
  await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: dt });
  await page.locator('img.original[alt*="dropped.png"]').waitFor();
  const captions = page.locator('input.caption');
  await captions.nth(0).fill(c.captions[0]);
  await captions.nth(1).fill(c.captions[1]);
  await page.locator('#classify').click();
  await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
  const probs = await page.getByTestId('prob').evaluateAll((ps) => ps.map((p) => +p.dataset.prob));
  probs.forEach((p, i) => assert.ok(Math.abs(p - c.probs[i]) <= TOL, `caption ${i}: ${p} vs ${c.probs[i]}`));
  // Paste replaces it.
  await page.getByTestId('drop-zone').evaluate((zone, data) => {
    const bytes = Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'pasted.png', { type: 'image/png' }));
    zone.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }));
  }, b64);
  await page.locator('img.original[alt*="pasted.png"]').waitFor();
  await finish(page, 'clip-drop-and-paste');
});
