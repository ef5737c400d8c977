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
  event.respondWith(lookup.then((hit) => hit ?? fetch(request)));
});
