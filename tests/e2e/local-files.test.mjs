// Local files as the weight source: with the hub refusing everything, a student gives the app MiniLM's three files
// and the attention lab runs on them; missing or wrong files are refused with a message and nothing half-stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setup, watchedPage, finish, MINILM_DIR } from './harness.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.close(); });

const minilm = ['config.json', 'tokenizer.json', 'model.safetensors'].map((f) => join(MINILM_DIR, f));

test('model files from this computer: refused when incomplete or wrong, then stored and used with the hub down', async () => {
  env.hub.setFaults({ status: { code: 500 } });
  env.hub.resetStats();
  const scratch = await mkdtemp(join(tmpdir(), 'nlu-local-'));
  try {
    const page = await watchedPage(env.context);
    await page.goto(env.appUrl());
    await page.getByTestId('cache-panel').locator('summary').click();
    const local = page.getByTestId('local-files');
    const message = page.getByTestId('local-files-message');
    await local.getByTestId('local-model').selectOption('sentence-transformers/all-MiniLM-L6-v2');

    await local.getByTestId('local-model-files').setInputFiles(minilm.slice(0, 2));
    await message.filter({ hasText: 'Missing from your files: model.safetensors' }).waitFor({ timeout: 10_000 });

    // A config.json of another model: the catalogue's size for MiniLM's refuses it, and nothing of it is kept.
    const wrong = join(scratch, 'config.json');
    await writeFile(wrong, JSON.stringify({ model_type: 'bert', hidden_size: 8 }));
    await local.getByTestId('local-model-files').setInputFiles([wrong, ...minilm.slice(1)]);
    await message.filter({ hasText: 'Not stored: config.json from your files: config.json has the wrong size' }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('[data-testid=cached-model][data-repo="sentence-transformers/all-MiniLM-L6-v2"]').count(), 0);

    await local.getByTestId('local-model-files').setInputFiles(minilm);
    await message.filter({ hasText: 'is stored from your files' }).waitFor({ timeout: 60_000 });
    const row = page.locator('[data-testid=cached-model][data-repo="sentence-transformers/all-MiniLM-L6-v2"]');
    await row.waitFor({ timeout: 10_000 });
    // Stored under the pinned commit, and its sha256 matched the pin: the same bytes a download would have given.
    assert.match(await row.textContent(), /model\.safetensors @ 1110a243fdf4 — 86\.7 MB, verified against the catalogue.s sha256/);

    await page.locator('#text-a').fill('Weights from a USB stick.');
    await page.locator('#run').click();
    await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 60_000 });
    assert.equal(await page.locator('[data-testid=tokens] li').first().textContent(), '[CLS]');
    assert.equal(env.hub.stats().totalRequests, 0, 'nothing was asked of the hub');
    await finish(page, 'local-files');
    await row.getByTestId('delete-model').click();
    await row.waitFor({ state: 'detached', timeout: 10_000 });
  } finally {
    env.hub.clearFaults();
    await rm(scratch, { recursive: true, force: true });
  }
});
