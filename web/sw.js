// nlu-lab's offline app shell. scripts/make_sw.sh fills in VERSION (a hash of the built files) and ASSETS (every
// file of this build) at build time, so each deploy installs a new cache and the old one is deleted on activation.
// Model weights are not handled here: they live in IndexedDB (the weights store), which works offline on its own.
//
// Everything of the build, the page included, comes from this build's cache: Trunk names the worker's files
// without a content hash, so a page from the network next to a worker from the cache could mix two versions.
// A new deploy is picked up in the background (the browser checks sw.js on each visit) and used from the next load.
const VERSION = '__VERSION__';
const ASSETS = __ASSETS__;
const CACHE = `nlu-lab-shell-${VERSION}`;
const SCOPE = new URL('./', self.location);
const INDEX = new URL('./index.html', self.location).href;

self.addEventListener('install', (event) => {
  // `reload`: past the HTTP cache, which may still hold the previous deploy's unhashed worker files.
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll(ASSETS.map((url) => new Request(url, { cache: 'reload' }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('nlu-lab-shell-') && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== SCOPE.origin) return;
  // The app's page, whatever its query (?hub=, a permalink, ?embed=): this build's index.html.
  const isApp = request.mode === 'navigate' && (url.pathname === SCOPE.pathname || url.href.split('?')[0] === INDEX);
  const lookup = isApp ? caches.match(INDEX, { cacheName: CACHE }) : caches.match(request, { cacheName: CACHE, ignoreSearch: true });
  // Anything not of this build (a bundled model mirror, another page on the site) goes to the network untouched.
  event.respondWith(lookup.then((hit) => (hit ? isolate(hit, request.destination) : fetch(request))));
});

// Cross-origin isolation, which static hosts such as GitHub Pages cannot send: with it the page gets
// SharedArrayBuffer and starts the threaded inference worker (threads/, wasm threads). COOP + COEP on the app's
// page when it is a top-level page (destination "document"; an embed in another site's iframe is "iframe" and is
// left as it was: it runs on one thread), COEP on the workers it starts (a worker must be as strict as its page).
// require-corp costs the app nothing: its weights and images are fetched with CORS, everything else is its own.
function isolate(response, destination) {
  if (destination !== 'document' && destination !== 'worker') return response;
  const headers = new Headers(response.headers);
  if (destination === 'document') headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
