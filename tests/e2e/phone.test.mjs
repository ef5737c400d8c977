// Phones (#18): every view at 360×740 and 390×844 on a touch screen with no horizontal scroll of the page (a wide
// drawing scrolls inside its own box); tap a token to isolate its lines, tap a head square to toggle it; the CLIP
// lab's file picker and camera. Screenshots: target/e2e/phone-<width>-*.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setup, watchedPage, finish, fillClipCase, SHOTS } from './harness.mjs';
import { loadGolden } from './golden.mjs';

const clipGolden = loadGolden('clip/tiny-clip-b32');

/** The page is no wider than the screen, and nothing visible sticks out of it (a drawing may, inside a box that scrolls). */
async function assertFits(page, where) {
  const report = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const scrolls = (el) => {
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if ((o === 'auto' || o === 'scroll' || o === 'hidden') && p.getBoundingClientRect().right <= width + 1) return true;
      }
      return false;
    };
    const out = [];
    // Positioned elements escape an overflow box that is not their containing block: named when the page is too wide.
    const escaped = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 1 && ['absolute', 'fixed'].includes(getComputedStyle(el).position)) {
        escaped.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
      }
    }
    for (const el of document.querySelectorAll('main *, header *, nav *')) {
      const r = el.getBoundingClientRect();
      // Not shown (a closed <details>, a hidden tab): it takes no room.
      if (r.width === 0 || r.height === 0 || !el.checkVisibility({ visibilityProperty: true })) continue;
      if ((r.right > width + 1 || r.left < -1) && !scrolls(el)) {
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${[...el.classList].join('.')} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
      }
    }
    return { scrollWidth: document.documentElement.scrollWidth, width, out: out.slice(0, 12), escaped: escaped.slice(0, 12) };
  });
  assert.ok(report.scrollWidth <= report.width,
    `${where}: the page scrolls sideways (${report.scrollWidth} > ${report.width}): ${[...report.out, ...report.escaped].join(', ')}`);
  assert.deepEqual(report.out, [], `${where}: sticks out of the ${report.width} px screen`);
}

const lines = (page) => page.locator('[data-testid=head-view] line.attn-line').evaluateAll((ls) =>
  ls.map((l) => ({ head: +l.dataset.head, from: +l.dataset.from })));

for (const size of [{ width: 360, height: 740 }, { width: 390, height: 844 }]) {
  const shot = (name) => `phone-${size.width}-${name}`;

  test(`attention lab at ${size.width}×${size.height}: every view fits, tap a token, tap a head`, async () => {
    const env = await setup({ phone: size });
    try {
      const page = await watchedPage(env.context);
      await page.goto(env.appUrl());
      await page.getByRole('heading', { name: 'Attention lab' }).waitFor();
      await assertFits(page, 'first visit');
      await page.locator('#text-a').fill('The cat sat on the mat because it was tired.');
      await page.locator('#run').tap();
      await page.locator('[data-testid=head-view] line').first().waitFor({ state: 'attached', timeout: 90_000 });
      await assertFits(page, 'with the result (head, model, neuron views, head analysis)');
      const all = await lines(page);
      const heads = new Set(all.map((l) => l.head)).size;

      // Tap a token: only its lines. Tap it again: all lines back.
      const token = page.locator('text.token.left').nth(2);
      await token.scrollIntoViewIfNeeded();
      await token.tap();
      let drawn = await lines(page);
      assert.ok(drawn.length > 0 && drawn.every((l) => l.from === 2), `isolated: ${drawn.length} lines`);
      await page.screenshot({ path: join(SHOTS, `${shot('token-tapped')}.png`) });
      await token.tap();
      assert.equal((await lines(page)).length, all.length, 'a second tap shows every line again');

      // Tap a head square: its lines go; tap again: back.
      await page.locator('.head-square[data-head="0"]').tap();
      drawn = await lines(page);
      assert.ok(drawn.length > 0 && !drawn.some((l) => l.head === 0), 'head 0 switched off');
      assert.equal(new Set(drawn.map((l) => l.head)).size, heads - 1);
      await page.locator('.head-square[data-head="0"]').tap();
      assert.equal((await lines(page)).length, all.length, 'head 0 back');

      // Compare, and the guide: still no sideways scroll.
      await page.getByTestId('compare').locator('summary').tap();
      await assertFits(page, 'compare open');
      await page.getByTestId('guide-toggle').tap();
      await assertFits(page, 'guide open');
      await finish(page, shot('attention-lab'));
    } finally {
      await env.close();
    }
  });

  test(`CLIP lab at ${size.width}×${size.height}: file picker, camera, results fit`, async () => {
    const env = await setup({ phone: size });
    try {
      const page = await watchedPage(env.context);
      await page.goto(env.appUrl());
      await page.locator('#tab-clip').tap();
      await assertFits(page, 'CLIP lab, first visit');
      await fillClipCase(page, clipGolden.json.cases[0]);
      await page.locator('#classify').tap();
      await page.getByTestId('prob').nth(1).waitFor({ timeout: 120_000 });
      await assertFits(page, 'CLIP lab with a result');
      await finish(page, shot('clip-lab'));

      await page.getByTestId('camera-open').tap();
      await page.waitForFunction(() => document.querySelector('video.camera-preview')?.videoWidth > 0, null, { timeout: 20_000 });
      await assertFits(page, 'camera open');
      await page.getByTestId('camera-shoot').tap();
      await page.locator('img.original').waitFor();
      await page.locator('#classify').tap();
      await page.getByTestId('prob').nth(1).waitFor({ timeout: 60_000 });
      await assertFits(page, 'CLIP lab with a photo');
      await finish(page, shot('clip-camera'));
    } finally {
      await env.close();
    }
  });
}
