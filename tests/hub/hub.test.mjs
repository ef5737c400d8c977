// Run: node --test tests/hub/
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startHub } from './hub.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

let tmp, root, hub, big, small, linked, prConfig;
const R = 'org/repo';
const BIG = 3 * 1024 * 1024 + 17;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-test-'));
  root = path.join(tmp, 'root');
  fs.mkdirSync(path.join(root, 'org/repo/sub'), { recursive: true });
  fs.mkdirSync(path.join(root, 'org/repo/@refs_pr_15'), { recursive: true });
  small = Buffer.from(JSON.stringify({ model_type: 'bert', hidden_size: 8 }));
  big = crypto.randomBytes(BIG);
  linked = crypto.randomBytes(5000);
  prConfig = Buffer.from('{"pr":15}');
  fs.writeFileSync(path.join(root, 'org/repo/config.json'), small);
  fs.writeFileSync(path.join(root, 'org/repo/model.bin'), big);
  fs.writeFileSync(path.join(root, 'org/repo/sub/nested.txt'), 'nested');
  fs.writeFileSync(path.join(root, 'org/repo/@refs_pr_15/config.json'), prConfig);
  fs.writeFileSync(path.join(tmp, 'outside.bin'), linked);
  fs.symlinkSync(path.join(tmp, 'outside.bin'), path.join(root, 'org/repo/linked.bin'));
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'TOP-SECRET-CONTENT');
  hub = await startHub({ root });
});

after(async () => {
  await hub?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => hub.clearFaults());

const u = (p) => `${hub.url}/${R}/resolve/main/${p}`;

/** Reads a response body chunk by chunk; returns { bytes, error } without throwing. */
async function drain(res) {
  const chunks = [];
  let error = null;
  try {
    for await (const c of res.body) chunks.push(Buffer.from(c));
  } catch (e) {
    error = e;
  }
  return { bytes: Buffer.concat(chunks), error };
}

/** Raw request (no URL normalization, unlike fetch). */
function rawGet(p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: hub.port, path: p }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    }).on('error', reject);
  });
}

test('resolve redirects (302) to /__cdn with linked headers and CORS', async () => {
  const res = await fetch(u('model.bin'), { redirect: 'manual' });
  assert.equal(res.status, 302);
  const loc = res.headers.get('location');
  assert.equal(loc, '/__cdn/org/repo/main/model.bin');
  assert.equal(res.headers.get('x-linked-size'), String(BIG));
  assert.equal(res.headers.get('x-linked-etag'), `"${sha256(big)}"`);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-expose-headers'), /X-Linked-Size/);
  await res.arrayBuffer();
});

test('followed redirect serves bytes with headers; ETag is sha256', async () => {
  const res = await fetch(u('model.bin'));
  assert.equal(res.status, 200);
  assert.ok(res.url.includes('/__cdn/org/repo/main/model.bin'));
  assert.equal(res.headers.get('content-length'), String(BIG));
  assert.equal(res.headers.get('etag'), `"${sha256(big)}"`);
  assert.equal(res.headers.get('accept-ranges'), 'bytes');
  assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.equal(
    res.headers.get('access-control-expose-headers'),
    'Content-Length, Content-Range, ETag, Accept-Ranges, X-Linked-Size, X-Linked-Etag',
  );
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(big));

  const j = await fetch(u('config.json'));
  assert.equal(j.headers.get('content-type'), 'application/json');
  assert.deepEqual(await j.json(), JSON.parse(small));
});

test('redirect: false serves directly', async () => {
  const direct = await startHub({ root, redirect: false });
  try {
    const res = await fetch(`${direct.url}/${R}/resolve/main/config.json`, { redirect: 'manual' });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(small));
  } finally {
    await direct.close();
  }
});

test('revision folders, encoded revisions, nested paths, symlinks', async () => {
  const pr = await fetch(`${hub.url}/${R}/resolve/refs%2Fpr%2F15/config.json`, { redirect: 'manual' });
  assert.equal(pr.status, 302);
  assert.equal(pr.headers.get('location'), '/__cdn/org/repo/refs%2Fpr%2F15/config.json');
  await pr.arrayBuffer();
  assert.equal(await (await fetch(`${hub.url}/${R}/resolve/refs%2Fpr%2F15/config.json`)).text(), '{"pr":15}');
  // The revision folder is authoritative: files not in it are 404.
  assert.equal((await fetch(`${hub.url}/${R}/resolve/refs%2Fpr%2F15/model.bin`)).status, 404);
  // Other revisions fall back to the repo folder.
  assert.equal(await (await fetch(`${hub.url}/${R}/resolve/abc123/sub/nested.txt`)).text(), 'nested');
  const l = await fetch(u('linked.bin'));
  assert.ok(Buffer.from(await l.arrayBuffer()).equals(linked));
});

test('unknown paths 404 with text; traversal rejected', async () => {
  for (const p of [u('nope.bin'), `${hub.url}/org/other/resolve/main/x`, `${hub.url}/whatever`]) {
    const res = await fetch(p);
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type'), /text\/plain/);
    assert.ok((await res.text()).length > 0);
  }
  for (const p of [
    '/org/repo/resolve/main/../../../secret.txt',
    '/org/repo/resolve/main/%2e%2e/%2e%2e/%2e%2e/secret.txt',
    '/org/repo/resolve/main/..%2F..%2F..%2Fsecret.txt',
    '/__cdn/org/repo/main/../../../secret.txt',
    '/../../resolve/main/secret.txt',
  ]) {
    const r = await rawGet(p);
    assert.equal(r.status, 400, p);
    assert.ok(!r.body.includes('TOP-SECRET'), p);
  }
});

test('HEAD', async () => {
  const res = await fetch(u('model.bin'), { method: 'HEAD' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-length'), String(BIG));
  assert.equal(res.headers.get('etag'), `"${sha256(big)}"`);
  const m = await fetch(u('model.bin'), { method: 'HEAD', redirect: 'manual' });
  assert.equal(m.status, 302);
  assert.equal(m.headers.get('x-linked-size'), String(BIG));
});

test('Range requests: 206 and 416', async () => {
  const cases = [
    ['bytes=0-99', 0, 99],
    ['bytes=100-', 100, BIG - 1],
    ['bytes=-500', BIG - 500, BIG - 1],
    [`bytes=${BIG - 10}-${BIG + 1000}`, BIG - 10, BIG - 1],
  ];
  for (const [range, s, e] of cases) {
    const res = await fetch(u('model.bin'), { headers: { Range: range } });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers.get('content-range'), `bytes ${s}-${e}/${BIG}`);
    assert.equal(res.headers.get('content-length'), String(e - s + 1));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big.subarray(s, e + 1)), range);
  }
  const bad = await fetch(u('model.bin'), { headers: { Range: `bytes=${BIG}-` } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get('content-range'), `bytes */${BIG}`);
  await bad.arrayBuffer();
});

test('CORS preflight', async () => {
  const res = await fetch(u('model.bin'), {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:1234', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  for (const m of ['GET', 'HEAD', 'POST']) assert.match(res.headers.get('access-control-allow-methods'), new RegExp(m));
  assert.match(res.headers.get('access-control-allow-headers'), /Range/);
  assert.match(res.headers.get('access-control-allow-headers'), /Content-Type/);
});

test('paths-info: JSON and form bodies', async () => {
  const api = `${hub.url}/api/models/${R}/paths-info/main`;
  const res = await fetch(api, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ paths: ['model.bin', 'config.json', 'missing.bin'] }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  const info = await res.json();
  assert.deepEqual(info, [
    { type: 'file', path: 'model.bin', size: BIG, oid: sha256(big), lfs: { oid: sha256(big), size: BIG, pointerSize: 134 } },
    { type: 'file', path: 'config.json', size: small.length, oid: sha256(small), lfs: { oid: sha256(small), size: small.length, pointerSize: 134 } },
  ]);
  const form = await fetch(api, { method: 'POST', body: new URLSearchParams([['paths', 'config.json'], ['paths', 'sub/nested.txt']]) });
  assert.deepEqual((await form.json()).map((e) => [e.path, e.size]), [['config.json', small.length], ['sub/nested.txt', 6]]);
  const pr = await fetch(`${hub.url}/api/models/${R}/paths-info/refs%2Fpr%2F15`, { method: 'POST', body: JSON.stringify({ paths: ['config.json'] }) });
  assert.equal((await pr.json())[0].size, prConfig.length);
});

test('fault cut at offsets, then succeeds; Content-Length still full', async () => {
  hub.setFaults({ match: 'model.bin', cut: { offsets: [1000, 200000] } });
  for (const n of [1000, 200000]) {
    const res = await fetch(u('model.bin'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(BIG));
    const { bytes, error } = await drain(res);
    assert.ok(error, 'body should error');
    assert.equal(bytes.length, n);
    assert.ok(bytes.equals(big.subarray(0, n)));
  }
  const ok = await drain(await fetch(u('model.bin')));
  assert.equal(ok.error, null);
  assert.ok(ok.bytes.equals(big));
});

test('fault cut afterBytes counts from the start of a ranged body', async () => {
  hub.setFaults({ cut: { afterBytes: 10 }, times: 1 });
  const { bytes, error } = await drain(await fetch(u('model.bin'), { headers: { Range: 'bytes=1000-' } }));
  assert.ok(error);
  assert.ok(bytes.equals(big.subarray(1000, 1010)));
  const ok = await drain(await fetch(u('model.bin'), { headers: { Range: 'bytes=1000-' } }));
  assert.equal(ok.error, null);
  assert.equal(ok.bytes.length, BIG - 1000);
});

test('fault stall: client must time out', async () => {
  hub.setFaults({ stall: { afterBytes: 4096 } });
  const t0 = Date.now();
  const res = await fetch(u('model.bin'), { signal: AbortSignal.timeout(400) });
  assert.equal(res.status, 200);
  const { bytes, error } = await drain(res);
  assert.ok(error);
  assert.match(error.name, /TimeoutError|AbortError/);
  assert.equal(bytes.length, 4096);
  assert.ok(Date.now() - t0 >= 350);
});

test('fault slow throttles', async () => {
  hub.setFaults({ slow: { bytesPerSecond: 400000 } });
  const t0 = Date.now();
  const res = await fetch(u('model.bin'), { headers: { Range: 'bytes=0-99999' } });
  const { bytes, error } = await drain(res);
  const dt = Date.now() - t0;
  assert.equal(error, null);
  assert.ok(bytes.equals(big.subarray(0, 100000)));
  assert.ok(dt >= 200, `took ${dt} ms`);
});

test('fault truncate: short body announced cleanly', async () => {
  hub.setFaults({ truncate: { bytes: 1000 } });
  const res = await fetch(u('model.bin'));
  assert.equal(res.headers.get('content-length'), '1000');
  const { bytes, error } = await drain(res);
  assert.equal(error, null);
  assert.ok(bytes.equals(big.subarray(0, 1000)));
});

test('fault status 500', async () => {
  hub.setFaults({ status: { code: 500 } });
  const res = await fetch(u('model.bin'));
  assert.equal(res.status, 500);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(await res.text(), /500/);
});

test('fault html200', async () => {
  hub.setFaults({ html200: true });
  const res = await fetch(u('model.bin'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  const text = await res.text();
  assert.match(text, /^<!DOCTYPE html><html>.*Error.*<\/html>/s);
});

test('fault corrupt flips one byte; ETag unchanged', async () => {
  const off = 123457;
  hub.setFaults({ corrupt: { offset: off } });
  const res = await fetch(u('model.bin'));
  assert.equal(res.headers.get('etag'), `"${sha256(big)}"`);
  const got = Buffer.from(await res.arrayBuffer());
  assert.equal(got.length, BIG);
  assert.notEqual(got[off], big[off]);
  got[off] = big[off];
  assert.ok(got.equals(big));
  // Ranged request covering the offset is corrupted at the same file offset.
  const r = Buffer.from(await (await fetch(u('model.bin'), { headers: { Range: `bytes=${off - 5}-${off + 5}` } })).arrayBuffer());
  assert.notEqual(r[5], big[off]);
});

test('times limits faults; match filters files', async () => {
  hub.setFaults({ match: 'model.bin', times: 2, status: { code: 503 } });
  assert.equal((await fetch(u('config.json'))).status, 200);
  const codes = [];
  for (let i = 0; i < 3; i++) {
    const r = await fetch(u('model.bin'), { headers: { Range: 'bytes=0-9' } });
    codes.push(r.status);
    await r.arrayBuffer();
  }
  assert.deepEqual(codes, [503, 503, 206]);
});

test('HTTP control: POST/DELETE /__faults and GET /__stats', async () => {
  await fetch(`${hub.url}/__stats`, { method: 'DELETE' });
  const set = await fetch(`${hub.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: { code: 500 }, times: 1 }) });
  assert.equal(set.status, 200);
  assert.equal((await fetch(u('config.json'))).status, 500);
  assert.equal((await fetch(`${hub.url}/__faults`, { method: 'POST', body: '{"bogus":1}' })).status, 400);
  await fetch(`${hub.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: { code: 500 } }) });
  await fetch(`${hub.url}/__faults`, { method: 'DELETE' });
  const ok = await fetch(u('config.json'));
  assert.equal(ok.status, 200);
  await ok.arrayBuffer();
  const rr = await fetch(u('model.bin'), { headers: { Range: 'bytes=0-99' } });
  await rr.arrayBuffer();

  const stats = await (await fetch(`${hub.url}/__stats`)).json();
  assert.equal(stats.requests['/org/repo/resolve/main/config.json'], 2);
  assert.equal(stats.requests['/__cdn/org/repo/main/config.json'], 2);
  assert.equal(stats.rangeRequests, 1);
  assert.equal(stats.bytesSent, small.length + 100);
  assert.equal(stats.faultsApplied, 1);
  assert.deepEqual(hub.stats(), stats);
});

test('CLI prints the listening line and exits on SIGTERM', async () => {
  const child = spawn(process.execPath, [path.join(HERE, 'hub.mjs'), '--root', root, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]);
    });
    child.on('exit', () => reject(new Error('exited early')));
  });
  const m = /^hub listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(line);
  assert.ok(m, line);
  const res = await fetch(`${m[1]}/${R}/resolve/main/config.json`);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(small));
  const code = await new Promise((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.equal(code, 0);
});
