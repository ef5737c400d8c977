// Loopback "hub": serves model files in the Hugging Face CDN layout for browser tests.
// Zero dependencies (Node >= 18 standard library only). See README.md in this folder.
//
//   import { startHub } from './hub.mjs';
//   const hub = await startHub({ root: '/path/to/root' });   // port 0 = ephemeral
//   fetch(`${hub.url}/org/repo/resolve/main/model.safetensors`);
//   hub.setFaults({ match: 'model', times: 1, cut: { afterBytes: 1000 } });
//   await hub.close();
//
// CLI: node tests/hub/hub.mjs --root DIR [--port 8090] [--host 127.0.0.1] [--no-redirect] [--faults JSON]

import http from 'node:http';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

const VERBOSE = process.env.HUB_VERBOSE === '1';
const EXPOSE_HEADERS = 'Content-Length, Content-Range, ETag, Accept-Ranges, X-Linked-Size, X-Linked-Etag';
const HTML_ERROR_PAGE =
  '<!DOCTYPE html><html><head><title>Error</title></head>' +
  '<body><h1>Error</h1><p>Injected fault: the service is temporarily unavailable.</p></body></html>\n';
const MAX_BODY = 1 << 20;

function baseHeaders(extra = {}) {
  return {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': EXPOSE_HEADERS,
    // Keep the browser's HTTP cache out of the way, so every fetch reaches the hub (and its faults).
    'Cache-Control': 'no-store',
    ...extra,
  };
}

function sendText(res, code, text, extra = {}) {
  const body = Buffer.from(text);
  res.writeHead(code, baseHeaders({
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    ...extra,
  }));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res, code, value) {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(code, baseHeaders({
    'Content-Type': 'application/json',
    'Content-Length': body.length,
  }));
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Faults

const BODY_FAULTS = ['slow', 'stall', 'cut', 'corrupt', 'extra'];
const HEADER_FAULTS = ['status', 'html200', 'truncate', 'announce', 'noEtag', 'etag'];

function isNonNegInt(n) {
  return Number.isInteger(n) && n >= 0;
}

/** Validates and normalizes one fault rule; throws on bad shapes. */
function normalizeRule(rule) {
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule)) {
    throw new Error('fault rule must be an object');
  }
  const known = new Set(['match', 'times', ...BODY_FAULTS, ...HEADER_FAULTS]);
  for (const k of Object.keys(rule)) if (!known.has(k)) throw new Error(`unknown fault key: ${k}`);
  const r = { ...rule };
  if (r.match !== undefined && typeof r.match !== 'string') throw new Error('match must be a string');
  if (r.times !== undefined && !isNonNegInt(r.times)) throw new Error('times must be an integer >= 0');
  if (r.slow !== undefined && !(r.slow && r.slow.bytesPerSecond > 0)) {
    throw new Error('slow must be { bytesPerSecond > 0 }');
  }
  if (r.stall !== undefined && !(r.stall && isNonNegInt(r.stall.afterBytes))) {
    throw new Error('stall must be { afterBytes >= 0 }');
  }
  if (r.cut !== undefined) {
    const c = r.cut;
    const ok = c && (isNonNegInt(c.afterBytes) ||
      (Array.isArray(c.offsets) && c.offsets.every(isNonNegInt)));
    if (!ok) throw new Error('cut must be { afterBytes } or { offsets: [n, ...] }');
  }
  if (r.truncate !== undefined && !(r.truncate && isNonNegInt(r.truncate.bytes))) {
    throw new Error('truncate must be { bytes >= 0 }');
  }
  if (r.status !== undefined) {
    if (typeof r.status === 'number') r.status = { code: r.status };
    const code = r.status && r.status.code;
    if (!(Number.isInteger(code) && code >= 200 && code <= 599)) throw new Error('status must be { code }');
  }
  if (r.html200 !== undefined && typeof r.html200 !== 'boolean') throw new Error('html200 must be boolean');
  if (r.noEtag !== undefined && typeof r.noEtag !== 'boolean') throw new Error('noEtag must be boolean');
  if (r.etag !== undefined && typeof r.etag !== 'string') throw new Error('etag must be a string');
  if (r.extra !== undefined && !(r.extra && isNonNegInt(r.extra.bytes))) {
    throw new Error('extra must be { bytes >= 0 }');
  }
  if (r.announce !== undefined && !(r.announce && /^[0-9]+$/.test(String(r.announce.contentLength)))) {
    throw new Error('announce must be { contentLength: "<digits>" }');
  }
  if (r.corrupt !== undefined && !(r.corrupt && isNonNegInt(r.corrupt.offset))) {
    throw new Error('corrupt must be { offset >= 0 }');
  }
  return r;
}

/** Accepts null/undefined/{} (no faults), one rule object, or an array of rules. */
function normalizeFaults(faults) {
  if (faults === null || faults === undefined) return [];
  const list = Array.isArray(faults) ? faults : [faults];
  return list
    .map(normalizeRule)
    .filter((r) => Object.keys(r).some((k) => k !== 'match' && k !== 'times'))
    .map((rule) => ({ rule, hits: 0 }));
}

/**
 * Picks the first active rule matching this request and consumes one "hit" of it.
 * Rules with only body faults (slow/stall/cut/corrupt) ignore HEAD requests.
 * Returns the effective fault for this one response, or null.
 */
function takeFault(state, key, method) {
  for (const entry of state.faults) {
    const { rule } = entry;
    if (rule.match && !key.includes(rule.match)) continue;
    const hasHeaderFault = HEADER_FAULTS.some((k) => rule[k] !== undefined && rule[k] !== false);
    if (method === 'HEAD' && !hasHeaderFault) continue;
    if (rule.times !== undefined && entry.hits >= rule.times) continue;
    const i = entry.hits++;
    const f = { ...rule };
    if (rule.cut && Array.isArray(rule.cut.offsets)) {
      if (i < rule.cut.offsets.length) f.cut = { afterBytes: rule.cut.offsets[i] };
      else delete f.cut;
    }
    if (!BODY_FAULTS.concat(HEADER_FAULTS).some((k) => f[k] !== undefined && f[k] !== false)) return null;
    state.stats.faultsApplied++;
    return f;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Hashing (sha256, streamed, cached by path + mtime + size)

function sha256File(state, abs, st) {
  const key = `${abs}\0${st.mtimeMs}\0${st.size}`;
  let p = state.hashCache.get(key);
  if (!p) {
    p = new Promise((resolve, reject) => {
      const h = crypto.createHash('sha256');
      fs.createReadStream(abs, { highWaterMark: 1 << 20 })
        .on('data', (d) => h.update(d))
        .on('error', reject)
        .on('end', () => resolve(h.digest('hex')));
    });
    p.catch(() => state.hashCache.delete(key));
    state.hashCache.set(key, p);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Path mapping

function decodeSegment(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Decodes and validates file path segments. Returns null on traversal / bad input. */
function safeSegments(rawSegments) {
  const out = [];
  for (const raw of rawSegments) {
    const s = decodeSegment(raw);
    if (s === null || s === '' || s === '.' || s === '..' || /[\\/\0]/.test(s)) return null;
    out.push(s);
  }
  return out.length ? out : null;
}

async function statOrNull(p) {
  try {
    return await fsp.stat(p); // follows symlinks
  } catch {
    return null;
  }
}

/**
 * Maps (org, repo, revision, file segments) to an absolute file path.
 * `<root>/<org>/<repo>/@<revision with '/' -> '_'>/` is authoritative if that folder exists;
 * otherwise `<root>/<org>/<repo>/` (revision ignored).
 * Returns { error } or { abs, st }.
 */
async function resolveFile(root, org, repo, revision, fileSegs) {
  const repoDir = path.join(root, org, repo);
  const repoSt = await statOrNull(repoDir);
  if (!repoSt || !repoSt.isDirectory()) return { error: 'RepositoryNotFound' };
  let base = repoDir;
  if (revision) {
    const revDir = path.join(repoDir, '@' + revision.replace(/\//g, '_'));
    const revSt = await statOrNull(revDir);
    if (revSt && revSt.isDirectory()) base = revDir;
  }
  const abs = path.join(base, ...fileSegs);
  if (!abs.startsWith(repoDir + path.sep)) return { error: 'BadPath' };
  const st = await statOrNull(abs);
  if (!st || !st.isFile()) return { error: 'EntryNotFound' };
  return { abs, st };
}

function contentTypeFor(file) {
  return file.toLowerCase().endsWith('.json') ? 'application/json' : 'application/octet-stream';
}

/** Parses a Range header. Returns null (ignore → 200), 'unsatisfiable', or { start, end }. */
function parseRange(header, size) {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null; // multi-range or garbage: serve whole file
  let start, end;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) return null; // invalid: ignore
    if (start >= size) return 'unsatisfiable';
  }
  return { start, end };
}

// ---------------------------------------------------------------------------------------------
// Body streaming with faults

function waitDrainOrClose(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function waitClose(res) {
  return new Promise((resolve) => {
    if (res.destroyed || res.socket?.destroyed) return resolve();
    res.on('close', resolve);
  });
}

/**
 * Streams file bytes [start, end] to res, applying body faults:
 * corrupt (file offset), slow (throttle), cut/stall (after N bytes of this body).
 */
async function streamBody(state, res, abs, start, end, fault) {
  const total = end - start + 1;
  const cutAt = fault?.cut ? fault.cut.afterBytes : Infinity;
  const stallAt = fault?.stall ? fault.stall.afterBytes : Infinity;
  const stopAt = Math.min(cutAt, stallAt, total);
  const corruptAt = fault?.corrupt ? fault.corrupt.offset : -1;
  const bps = fault?.slow ? fault.slow.bytesPerSecond : 0;
  const piece = bps ? Math.max(1, Math.floor(bps / 20)) : Infinity;
  const t0 = Date.now();
  let sent = 0;
  let aborted = false;
  res.on('close', () => { aborted = true; });

  let lastFlushed = Promise.resolve();
  const write = async (buf) => {
    sent += buf.length;
    state.stats.bytesSent += buf.length;
    let ok;
    lastFlushed = new Promise((resolve) => {
      ok = res.write(buf, () => resolve());
    });
    if (!ok) await waitDrainOrClose(res);
  };

  if (stopAt > 0 && total > 0) {
    const stream = fs.createReadStream(abs, { start, end: start + stopAt - 1, highWaterMark: 64 * 1024 });
    try {
      let off = start;
      for await (let chunk of stream) {
        if (aborted) break;
        if (corruptAt >= off && corruptAt < off + chunk.length) {
          chunk = Buffer.from(chunk);
          chunk[corruptAt - off] ^= 0xff;
        }
        off += chunk.length;
        for (let i = 0; i < chunk.length && !aborted; i += piece) {
          await write(chunk.subarray(i, Math.min(chunk.length, i + piece)));
          if (bps) {
            const due = t0 + (sent / bps) * 1000;
            const wait = due - Date.now();
            if (wait > 0) await sleep(wait);
          }
        }
        if (aborted) break;
      }
    } finally {
      stream.destroy();
    }
  }
  if (aborted) return;
  if (fault?.extra && sent === total) {
    // Bytes past the end of the file (a hostile or broken server): zeros, announced in Content-Length.
    for (let left = fault.extra.bytes; left > 0 && !aborted; left -= 64 * 1024) {
      await write(Buffer.alloc(Math.min(left, 64 * 1024)));
    }
    if (aborted) return;
  }

  if (sent < total && stopAt === stallAt && stallAt <= cutAt) {
    // Stall: keep the socket open, send nothing more, until the client gives up (or hub closes).
    await waitClose(res);
  } else if (sent < total && stopAt === cutAt) {
    // Cut: let what we wrote reach the kernel, then kill the connection
    // (Content-Length still promised more, so the client sees a premature close).
    await Promise.race([lastFlushed, waitClose(res)]);
    res.socket?.destroy();
  } else {
    res.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async function serveFile(state, req, res, { org, repo, revision, fileSegs }) {
  const r = await resolveFile(state.root, org, repo, revision, fileSegs);
  if (r.error) return sendText(res, 404, `${r.error}: ${org}/${repo}/${fileSegs.join('/')}\n`);
  const key = `${org}/${repo}/${fileSegs.join('/')}`;
  const fault = takeFault(state, key, req.method);
  const isHead = req.method === 'HEAD';

  if (fault?.status) {
    const code = fault.status.code;
    return sendText(res, code, `Injected fault: HTTP ${code}\n`);
  }
  if (fault?.html200) {
    const body = Buffer.from(HTML_ERROR_PAGE);
    res.writeHead(200, baseHeaders({ 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length }));
    return res.end(isHead ? undefined : body);
  }

  const etag = `"${await sha256File(state, r.abs, r.st)}"`;
  const lastModified = new Date(Math.floor(r.st.mtimeMs / 1000) * 1000).toUTCString();
  const size = fault?.truncate ? Math.min(r.st.size, fault.truncate.bytes) : r.st.size;
  const headers = baseHeaders({
    'Content-Type': contentTypeFor(fileSegs[fileSegs.length - 1]),
    'Accept-Ranges': 'bytes',
    'Last-Modified': lastModified,
  });
  // `etag`: this response claims another version (as an older file would have), so a resume's If-Range misses.
  if (!fault?.noEtag) headers.ETag = fault?.etag ?? etag;

  let range = null;
  if (req.headers.range) {
    state.stats.rangeRequests++;
    range = parseRange(req.headers.range, size);
    // RFC 9110 If-Range: the range only if the validator (strong ETag, or the exact Last-Modified date) still
    // matches; otherwise the whole file, 200.
    const ifRange = req.headers['if-range'];
    if (ifRange !== undefined) {
      state.stats.ifRangeRequests++;
      const matches = ifRange.startsWith('"') ? ifRange === etag && !fault?.noEtag : ifRange === lastModified;
      if (!matches) {
        state.stats.ifRangeMismatches++;
        range = null;
      }
    }
  }
  if (range === 'unsatisfiable') {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
    return res.end();
  }
  let start = 0;
  let end = size - 1;
  let code = 200;
  if (range) {
    ({ start, end } = range);
    code = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = Math.max(0, end - start + 1) + (fault?.extra ? fault.extra.bytes : 0);
  if (fault?.announce) headers['Content-Length'] = String(fault.announce.contentLength);
  res.writeHead(code, headers);
  if (isHead || size === 0) return res.end();
  res.flushHeaders(); // headers go out even if a fault sends 0 body bytes
  await streamBody(state, res, r.abs, start, end, fault);
}

async function redirectFile(state, req, res, { org, repo, revision, fileSegs, fileRaw }) {
  const r = await resolveFile(state.root, org, repo, revision, fileSegs);
  if (r.error) return sendText(res, 404, `${r.error}: ${org}/${repo}/${fileSegs.join('/')}\n`);
  const sha = await sha256File(state, r.abs, r.st);
  const location = `/__cdn/${encodeURIComponent(org)}/${encodeURIComponent(repo)}/` +
    `${encodeURIComponent(revision)}/${fileRaw}`;
  res.writeHead(302, baseHeaders({
    Location: location,
    'Content-Length': 0,
    ETag: `"${sha}"`,
    'X-Linked-Size': String(r.st.size),
    'X-Linked-Etag': `"${sha}"`,
  }));
  res.end();
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parsePathsBody(text, contentType = '') {
  const t = text.trim();
  if (contentType.includes('json') || t.startsWith('{')) {
    const v = JSON.parse(t || '{}');
    const p = v && v.paths;
    return p === undefined ? [] : Array.isArray(p) ? p : [p];
  }
  const params = new URLSearchParams(t);
  return [...params.getAll('paths'), ...params.getAll('paths[]')];
}

async function pathsInfo(state, req, res, org, repo, revision) {
  let paths;
  try {
    paths = parsePathsBody(await readBody(req), req.headers['content-type']);
  } catch (e) {
    return sendText(res, 400, `Bad request body: ${e.message}\n`);
  }
  const repoSt = await statOrNull(path.join(state.root, org, repo));
  if (!repoSt || !repoSt.isDirectory()) return sendText(res, 404, `RepositoryNotFound: ${org}/${repo}\n`);
  const out = [];
  for (const p of paths) {
    if (typeof p !== 'string') continue;
    const segs = safeSegments(p.replace(/^\/+/, '').split('/').map(encodeURIComponent));
    if (!segs) continue;
    const r = await resolveFile(state.root, org, repo, revision, segs);
    if (r.error) continue;
    const sha = await sha256File(state, r.abs, r.st);
    out.push({
      type: 'file',
      path: segs.join('/'),
      size: r.st.size,
      oid: sha,
      lfs: { oid: sha, size: r.st.size, pointerSize: 134 },
    });
  }
  sendJson(res, 200, out);
}

/** Splits a revision off the front of raw segments: `refs%2Fpr%2F1` or raw `refs/pr/1`. */
function takeRevision(segs) {
  if (segs[0] === 'refs' && segs.length >= 3) {
    return { revisionRaw: segs.slice(0, 3).join('/'), rest: segs.slice(3) };
  }
  return { revisionRaw: segs[0], rest: segs.slice(1) };
}

async function handle(state, req, res) {
  // Raw pathname: no dot-segment normalization, so '..' reaches safeSegments() and is rejected.
  let pathname = req.url.split(/[?#]/)[0];
  if (!pathname.startsWith('/')) pathname = new URL(req.url, 'http://hub.invalid').pathname;
  const method = req.method;
  const isControl = pathname === '/__faults' || pathname === '/__stats';

  if (VERBOSE) process.stderr.write(`[hub] ${method} ${req.url}${req.headers.range ? ` (${req.headers.range})` : ''}\n`);

  if (method === 'OPTIONS') {
    const requested = req.headers['access-control-request-headers'];
    res.writeHead(204, baseHeaders({
      'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': requested ? `Range, Content-Type, ${requested}` : 'Range, Content-Type',
      'Access-Control-Max-Age': '600',
      'Content-Length': 0,
    }));
    return res.end();
  }

  if (!isControl) {
    state.stats.totalRequests++;
    state.stats.requests[pathname] = (state.stats.requests[pathname] || 0) + 1;
  }

  // Control endpoints.
  if (pathname === '/__faults') {
    if (method === 'GET') {
      return sendJson(res, 200, state.faults.map((e) => ({ ...e.rule, hits: e.hits })));
    }
    if (method === 'DELETE') {
      state.faults = [];
      return sendJson(res, 200, { ok: true });
    }
    if (method === 'POST' || method === 'PUT') {
      try {
        const text = (await readBody(req)).trim();
        state.faults = normalizeFaults(text ? JSON.parse(text) : null);
      } catch (e) {
        return sendText(res, 400, `Bad faults: ${e.message}\n`);
      }
      return sendJson(res, 200, { ok: true, rules: state.faults.length });
    }
    return sendText(res, 405, 'Method not allowed\n');
  }
  if (pathname === '/__stats') {
    if (method === 'GET') return sendJson(res, 200, snapshotStats(state));
    if (method === 'DELETE') {
      state.stats = newStats();
      return sendJson(res, 200, { ok: true });
    }
    return sendText(res, 405, 'Method not allowed\n');
  }

  const segs = pathname.split('/').slice(1);

  // POST /api/models/<org>/<repo>/paths-info/<revision>
  if (segs[0] === 'api' && segs[1] === 'models' && segs[4] === 'paths-info' && segs.length >= 6) {
    if (method !== 'POST') return sendText(res, 405, 'Method not allowed\n');
    const repoSegs = safeSegments(segs.slice(2, 4));
    const revision = decodeSegment(segs.slice(5).join('/'));
    if (!repoSegs || revision === null) return sendText(res, 400, 'Bad path\n');
    return pathsInfo(state, req, res, repoSegs[0], repoSegs[1], revision);
  }

  // GET|HEAD /__cdn/<org>/<repo>/<revision>/<file...>
  if (segs[0] === '__cdn' && segs.length >= 5) {
    if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'Method not allowed\n');
    const repoSegs = safeSegments(segs.slice(1, 3));
    const { revisionRaw, rest } = takeRevision(segs.slice(3));
    const revision = decodeSegment(revisionRaw);
    const fileSegs = safeSegments(rest);
    if (!repoSegs || revision === null || !fileSegs) return sendText(res, 400, 'Bad path\n');
    return serveFile(state, req, res, { org: repoSegs[0], repo: repoSegs[1], revision, fileSegs });
  }

  // GET|HEAD /<org>/<repo>/resolve/<revision>/<file...>
  if (segs[2] === 'resolve' && segs.length >= 5) {
    if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'Method not allowed\n');
    const repoSegs = safeSegments(segs.slice(0, 2));
    const { revisionRaw, rest } = takeRevision(segs.slice(3));
    const revision = decodeSegment(revisionRaw);
    const fileSegs = safeSegments(rest);
    if (!repoSegs || revision === null || !fileSegs) return sendText(res, 400, 'Bad path\n');
    const loc = { org: repoSegs[0], repo: repoSegs[1], revisionRaw, revision, fileSegs, fileRaw: rest.join('/') };
    if (state.redirect) return redirectFile(state, req, res, loc);
    return serveFile(state, req, res, loc);
  }

  return sendText(res, 404, `Not found: ${pathname}\n`);
}

function newStats() {
  return { totalRequests: 0, requests: {}, bytesSent: 0, rangeRequests: 0, ifRangeRequests: 0, ifRangeMismatches: 0, faultsApplied: 0 };
}

function snapshotStats(state) {
  return { ...state.stats, requests: { ...state.stats.requests } };
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts the hub.
 * @param {{ root: string, port?: number, host?: string, redirect?: boolean, faults?: object|object[] }} opts
 * @returns {Promise<{ url: string, port: number, close(): Promise<void>, setFaults(f: object|object[]|null): void,
 *                     clearFaults(): void, stats(): object, resetStats(): void }>}
 */
export async function startHub({ root, port = 0, host = '127.0.0.1', redirect = true, faults } = {}) {
  if (!root) throw new Error('startHub: root is required');
  const state = {
    root: path.resolve(root),
    redirect,
    faults: normalizeFaults(faults),
    stats: newStats(),
    hashCache: new Map(),
  };

  const server = http.createServer((req, res) => {
    handle(state, req, res).catch((err) => {
      if (VERBOSE) process.stderr.write(`[hub] error: ${err && err.stack}\n`);
      if (!res.headersSent) sendText(res, 500, `Hub error: ${err && err.message}\n`);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  let closing = null;
  return {
    url: `http://${urlHost}:${actualPort}`,
    port: actualPort,
    close() {
      if (!closing) {
        closing = new Promise((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections(); // includes stalled responses
        });
      }
      return closing;
    },
    setFaults(f) {
      state.faults = normalizeFaults(f);
    },
    clearFaults() {
      state.faults = [];
    },
    stats() {
      return snapshotStats(state);
    },
    resetStats() {
      state.stats = newStats();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

function parseArgs(argv) {
  const opts = { root: null, port: 8090, host: '127.0.0.1', redirect: true, faults: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--root') opts.root = next();
    else if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--no-redirect') opts.redirect = false;
    else if (a === '--faults') opts.faults = JSON.parse(next());
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node hub.mjs --root DIR [--port 8090] [--host 127.0.0.1] [--no-redirect] [--faults JSON]\n');
      process.exit(0);
    } else throw new Error(`unknown argument: ${a}`);
  }
  if (!opts.root) throw new Error('--root DIR is required');
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error('bad --port');
  return opts;
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`hub: ${e.message}\n`);
    process.exit(2);
  }
  const hub = await startHub(opts);
  process.stdout.write(`hub listening on ${hub.url}\n`);
  const stop = () => {
    hub.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
