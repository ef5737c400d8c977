// A small static file server for dist/ (serve.sh and the e2e tests). Node's standard library only.
// Usage: node scripts/static-server.mjs DIR [--port 8080] [--host 127.0.0.1] [--prefix /nlu-lab/]
import { createServer } from 'node:http';
import { createReadStream, promises as fs } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.jpg': 'image/jpeg', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json', '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8', '.d.ts': 'text/plain; charset=utf-8',
};

// What makes a page cross-origin isolated (SharedArrayBuffer, wasm threads).
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

export async function startStatic({ root, port = 0, host = '127.0.0.1', prefix = '/', headers = {} }) {
  root = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      let path = decodeURIComponent(url.pathname);
      if (!path.startsWith(prefix)) { res.writeHead(404).end('not found'); return; }
      path = normalize('/' + path.slice(prefix.length));
      let file = join(root, path);
      if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
      let stat = await fs.stat(file).catch(() => null);
      if (stat?.isDirectory()) { file = join(file, 'index.html'); stat = await fs.stat(file).catch(() => null); }
      if (!stat) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': stat.size,
        'cache-control': 'no-cache', ...headers });
      if (req.method === 'HEAD') { res.end(); return; }
      createReadStream(file).pipe(res);
    } catch (e) { res.writeHead(500).end(String(e)); }
  });
  await new Promise((ok) => server.listen(port, host, ok));
  const actual = server.address().port;
  return { url: `http://${host}:${actual}${prefix}`, port: actual, close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); }) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
  // --isolate: send COOP/COEP on every file (cross-origin isolated without the service worker, as web/sw.js does).
  const headers = args.includes('--isolate') ? ISOLATION_HEADERS : {};
  const s = await startStatic({ root: args[0] ?? 'dist', port: Number(opt('--port', 8080)), host: opt('--host', '127.0.0.1'), prefix: opt('--prefix', '/'), headers });
  console.log(`nlu-lab is served at ${s.url}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => s.close().then(() => process.exit(0)));
}
