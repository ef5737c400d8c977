// Shared set-up for the end-to-end tests: the built site on a loopback port, the loopback hub with the real
// MiniLM, a fresh headless Chromium, and a page that fails the test on any console error or uncaught exception
// (in the page or its worker). Every test saves a screenshot under target/e2e/.
import { chromium } from 'playwright-core';
import { cp, mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startHub } from '../hub/hub.mjs';
import { startStatic } from '../../scripts/static-server.mjs';

export const REPO = resolve(new URL('../..', import.meta.url).pathname);
export const DIST = join(REPO, 'dist');
export const SHOTS = join(REPO, 'target/e2e');
const CACHE = process.env.NLU_LAB_CACHE ?? join(REPO, '.cache');
export const MINILM_DIR = join(CACHE, 'models/all-MiniLM-L6-v2');
export const MINILM_REPO = 'sentence-transformers/all-MiniLM-L6-v2';
// The tiny synthetic CLIP (scripts/test.sh writes it with `nlu-lab-dev synth-clip`), served where the app looks for
// CLIP ViT-B/32.
export const TINY_CLIP_DIR = join(CACHE, 'models/tiny-clip-b32');
export const CLIP_REPO = 'openai/clip-vit-base-patch32';
export const GPT2_REPO = 'openai-community/gpt2';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // A synthetic camera (a test pattern) for the CLIP lab's camera input, allowed without a prompt.
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'];

/** A hub root whose models are symlinks into the cache (nothing big is copied). */
export async function makeHubRoot(models = { [MINILM_REPO]: MINILM_DIR, [CLIP_REPO]: TINY_CLIP_DIR }) {
  const root = await mkdtemp(join(tmpdir(), 'nlu-hub-'));
  for (const [repo, dir] of Object.entries(models)) {
    if (!existsSync(join(dir, 'model.safetensors'))) throw new Error(`${dir} is missing: run scripts/fetch_models.sh`);
    await mkdir(join(root, repo), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'preprocessor_config.json', 'model.safetensors']) {
      if (existsSync(join(dir, f))) await symlink(join(dir, f), join(root, repo, f));
    }
  }
  return root;
}

/** `json` as compact JSON padded with spaces to `size` bytes, after `shrink` steps while it is longer. */
function fitted(json, size, shrink) {
  let text = JSON.stringify(json);
  for (const step of shrink) {
    if (Buffer.byteLength(text) <= size) break;
    step(json);
    text = JSON.stringify(json);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > size) throw new Error(`cannot fit in ${size} bytes: ${bytes}`);
  return text + ' '.repeat(size - bytes);
}

/**
 * A folder with the tiny random GPT-2 of tests/fixtures/gpt2/tiny-gpt2, to serve as openai-community/gpt2 (removed
 * by the caller). The catalogue knows that repo's config.json and tokenizer.json by their sizes only (665 and
 * 1 355 256 bytes: no sha256 is on record) and checks them, so these are the tiny files' JSON, compact, with
 * what GPT-2 does not read left out and padded with spaces to exactly those sizes. The weights are the tiny ones (not
 * the pinned file: the app says so).
 */
export async function tinyGpt2Folder() {
  const tiny = join(REPO, 'tests/fixtures/gpt2/tiny-gpt2');
  const folder = await mkdtemp(join(tmpdir(), 'nlu-tiny-gpt2-'));
  const config = JSON.parse(readFileSync(join(tiny, 'config.json'), 'utf8'));
  // Read only by GPT-2's sequence-summary head, or defaults.
  const unused = ['summary_activation', 'summary_first_dropout', 'summary_proj_to_labels', 'summary_type', 'summary_use_proj',
    'add_cross_attention', 'reorder_and_upcast_attn', 'scale_attn_by_inverse_layer_idx', 'transformers_version', 'dtype', 'use_cache'];
  await writeFile(join(folder, 'config.json'), fitted(config, 665, unused.map((k) => (c) => delete c[k])));
  const tokenizer = JSON.parse(readFileSync(join(tiny, 'tokenizer.json'), 'utf8'));
  // Merges as "a b" strings (as GPT-2's own tokenizer.json has them), then the BPE model's null options left out.
  tokenizer.model.merges = tokenizer.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const nulls = ['dropout', 'unk_token', 'continuing_subword_prefix', 'end_of_word_suffix'];
  await writeFile(join(folder, 'tokenizer.json'), fitted(tokenizer, 1_355_256, nulls.map((k) => (t) => delete t.model[k])));
  await symlink(join(tiny, 'model.safetensors'), join(folder, 'model.safetensors'));
  return folder;
}

/** `copySite`: serve a copy of `root` (env.root), for tests that "deploy" into the site; removed by close(). */
/** `phone`: `{ width, height }` — a touch screen of that size (isMobile, hasTouch), for the phone tests. */
/** `hubModels`: the loopback hub's models (repo → folder), by default the real MiniLM and the tiny CLIP. */
export async function setup({ hub = true, prefix = '/', root = DIST, entry = 'index.html', build = 'scripts/build.sh', copySite = false, phone = null, hubModels = undefined } = {}) {
  if (!existsSync(join(root, entry))) throw new Error(`${join(root, entry)} is missing: run ${build}`);
  await mkdir(SHOTS, { recursive: true });
  let copy = null;
  if (copySite) {
    copy = await mkdtemp(join(tmpdir(), 'nlu-site-'));
    await cp(root, copy, { recursive: true });
    root = copy;
  }
  const site = await startStatic({ root, prefix });
  let hubServer = null, hubRoot = null;
  if (hub) {
    hubRoot = await makeHubRoot(hubModels);
    hubServer = await startHub({ root: hubRoot });
  }
  const userDataDir = await mkdtemp(join(tmpdir(), 'nlu-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS,
    ...(phone ? { viewport: phone, isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : { viewport: { width: 1280, height: 900 } }),
  });
  return {
    site, hub: hubServer, context, root,
    /** The app's URL (or a page under the site, `path`) with the loopback hub and extra query parameters. */
    appUrl(params = {}, path = '') {
      const q = new URLSearchParams({ ...(hubServer ? { hub: hubServer.url } : {}), ...params });
      return `${site.url}${path}?${q}`;
    },
    async close() {
      await context.close();
      await site.close();
      if (hubServer) await hubServer.close();
      await rm(userDataDir, { recursive: true, force: true });
      if (hubRoot) await rm(hubRoot, { recursive: true, force: true });
      if (copy) await rm(copy, { recursive: true, force: true });
    },
  };
}

/** A new page that records console errors and uncaught exceptions (page and workers). */
export async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  // "Failed to load resource" duplicates the response check below, which names the URL and honours expectedErrors.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400 && !page.expectedErrors?.some((u) => r.url().includes(u))) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
  page.problems = problems;
  return page;
}

/** The result's tokens as the tokenizer made them (the list shows them prettified; each item keeps the raw one). */
export async function rawTokens(page) {
  return page.locator('[data-testid=tokens] li').evaluateAll((items) => items.map((li) => li.dataset.raw));
}

/** In the CLIP lab: golden case `c`'s image and its first two captions, ready to classify. */
export async function fillClipCase(page, c) {
  await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures', c.image));
  await page.locator('img.original').waitFor();
  const captions = page.locator('input.caption');
  await captions.nth(0).fill(c.captions[0]);
  await captions.nth(1).fill(c.captions[1]);
}

const AXE = join(REPO, 'node_modules/axe-core/axe.min.js');

/**
 * axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA and best practice), one line
 * each. Evaluated through the DevTools protocol, so no page policy is loosened for it.
 */
export async function accessibilityViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(readFileSync(AXE, 'utf8'));
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id} (${v.help}): ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

/**
 * Screenshot for the record, then fail on any problem seen in the page, or on a serious or critical accessibility
 * violation in what it shows (every view the suite reaches goes through here).
 */
export async function finish(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  if (page.problems.length) throw new Error(`page reported problems:\n${page.problems.join('\n')}`);
  const violations = await accessibilityViolations(page);
  if (violations.length) throw new Error(`${name}: accessibility (axe-core):\n${violations.join('\n')}`);
}

/**
 * The entries of a zip of stored (uncompressed) files, as the CLIP lab's hand-in is: `{ name: Buffer }`, read from
 * its central directory (no zip package for one test).
 */
export function storedZipEntries(zip) {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (end < 0) throw new Error('not a zip: no end of central directory');
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries = {};
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry ${i}`);
    const method = zip.readUInt16LE(at + 10);
    const size = zip.readUInt32LE(at + 20);
    const [nameLen, extraLen, commentLen] = [zip.readUInt16LE(at + 28), zip.readUInt16LE(at + 30), zip.readUInt16LE(at + 32)];
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLen).toString('utf8');
    if (method !== 0) throw new Error(`${name} is compressed (method ${method}), not stored`);
    const data = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    entries[name] = zip.subarray(data, data + size);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}
