// The worker's memory while a student tries one model after another in the release app: MiniLM, bert-base,
// DistilBERT (attention lab), then CLIP ViT-B/32 (CLIP lab), then MiniLM again. The worker keeps the two most
// recently used models (src/web/models.rs), so its memory follows the two largest of the last two, not the sum.
// Not a test: prints figures. Run by scripts/bench_memory.sh with the synthetic real-size checkpoints it writes.
//
// The synthetic files are served under the catalogue's names, so the app checks them against the real files' pins:
// their JSON is compacted to stay within the pinned sizes, and every one is (rightly) quarantined as "not the file
// the catalogue pins" — the path a student's download takes, without the real weights (Hugging Face is unreachable
// here).
import { mkdtemp, readFile, rm, symlink, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setup, makeHubRoot, watchedPage, MINILM_DIR, MINILM_REPO, CLIP_REPO, REPO } from './harness.mjs';
import { startHub } from '../hub/hub.mjs';

const [bertDir, distilDir, clipDir] = process.argv.slice(2).map((d) => resolve(d));
const BERT_REPO = 'google-bert/bert-base-uncased';
const DISTIL_REPO = 'distilbert/distilbert-base-uncased';
// bert-base-uncased's and distilbert-base-uncased's pinned tokenizer.json (the same bytes).
const BERT_TOKENIZER_PIN = 466_062;

/** `dir`'s files, its JSON re-serialised without spaces (the weights linked), in a new folder. */
async function compacted(dir) {
  const out = await mkdtemp(join(tmpdir(), 'nlu-served-'));
  for (const f of ['config.json', 'tokenizer.json', 'preprocessor_config.json']) {
    let text;
    try { text = await readFile(join(dir, f), 'utf8'); } catch { continue; }
    const json = JSON.parse(text);
    let bytes = JSON.stringify(json);
    if (f === 'tokenizer.json') {
      // MiniLM's tokenizer (bert-base-uncased's vocabulary) has truncation and padding settings and a longer
      // normaliser that make it a few hundred bytes longer than bert-base's pinned tokenizer.json (466 062 bytes):
      // the app would rightly refuse it while downloading. Drop those settings and as many of the vocabulary's
      // never-used "[unusedN]" placeholders as it takes to fit (the ids of every other token stay as they are).
      Object.assign(json, { truncation: null, padding: null });
      const unused = Object.keys(json.model.vocab).filter((t) => /^\[unused\d+\]$/.test(t)).reverse();
      bytes = JSON.stringify(json);
      while (Buffer.byteLength(bytes) > BERT_TOKENIZER_PIN && unused.length) {
        for (const t of unused.splice(0, 10)) delete json.model.vocab[t];
        bytes = JSON.stringify(json);
      }
    }
    await writeFile(join(out, f), bytes);
  }
  await symlink(join(dir, 'model.safetensors'), join(out, 'model.safetensors'));
  return out;
}

const served = { [BERT_REPO]: await compacted(bertDir), [DISTIL_REPO]: await compacted(distilDir) };
const hubRoot = await makeHubRoot({ [MINILM_REPO]: MINILM_DIR, [CLIP_REPO]: clipDir, ...served });
const hub = await startHub({ root: hubRoot });
const env = await setup({ hub: false });
const page = await watchedPage(env.context);
await page.goto(`${env.site.url}?hub=${encodeURIComponent(hub.url)}`);

const weightBytes = async (dir) => (await stat(join(dir, 'model.safetensors'))).size;
const figures = (text) => {
  const m = text.match(/model loaded in (\d+) ms · worker memory ([\d.]+) (MB|GB)/);
  if (!m) throw new Error(`no load figures in the status: ${text}`);
  return { ms: Number(m[1]), memory: Number(m[2]) * (m[3] === 'GB' ? 1e9 : 1e6) };
};

async function failOnAlert() {
  const alert = page.locator('[role=alert]');
  if (await alert.count()) throw new Error(`the app says: ${await alert.first().textContent()}`);
}

async function attention(repo) {
  await page.locator('#tab-attention').click();
  await page.locator('#model').selectOption(repo);
  await page.locator('#text-a').fill(`Which model is loaded now? ${repo}`);
  await page.locator('#run').click();
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=attention-status]')?.textContent ?? '';
    return s.includes('worker memory') || document.querySelector('[role=alert]');
  }, null, { timeout: 600_000 });
  await failOnAlert();
  return figures(await page.getByTestId('attention-status').textContent());
}

async function clip() {
  await page.locator('#tab-clip').click();
  await page.getByTestId('image-file').setInputFiles(join(REPO, 'tests/fixtures/images/chelsea.png'));
  await page.locator('input.caption').first().fill('a photo of a cat');
  await page.locator('#classify').click();
  const status = 'section[aria-label="CLIP lab"] > .status';
  await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent ?? '').includes('worker memory')
    || document.querySelector('[role=alert]'), status, { timeout: 600_000 });
  await failOnAlert();
  return figures(await page.locator(status).textContent());
}

const steps = [
  ['MiniLM-L6', MINILM_DIR, () => attention(MINILM_REPO)],
  ['bert-base', bertDir, () => attention(BERT_REPO)],
  ['DistilBERT', distilDir, () => attention(DISTIL_REPO)],
  ['CLIP ViT-B/32', clipDir, clip],
  ['MiniLM-L6 again', MINILM_DIR, () => attention(MINILM_REPO)],
];
console.log('worker memory (wasm linear memory, which never shrinks) after each model is loaded, in turn, in one worker;');
console.log('the worker keeps the 2 most recently used models loaded and drops the older one before loading another');
console.log('step  model              weights MB  loaded (download + store + build) ms  worker memory MB  sum of all weights so far MB');
let sum = 0;
for (const [i, [name, dir, run]] of steps.entries()) {
  const bytes = await weightBytes(dir);
  if (!name.endsWith('again')) sum += bytes;
  const f = await run();
  console.log(`${String(i + 1).padEnd(6)}${name.padEnd(19)}${(bytes / 1e6).toFixed(0).padStart(10)}  ${String(f.ms).padStart(36)}  ${(f.memory / 1e6).toFixed(0).padStart(16)}  ${(sum / 1e6).toFixed(0).padStart(28)}`);
}
await env.close();
await hub.close();
for (const dir of [hubRoot, ...Object.values(served)]) await rm(dir, { recursive: true, force: true });
