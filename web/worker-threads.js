// The threaded inference worker (a module worker; scripts/build_threads.sh builds nlu-lab-worker with the
// `threads` feature and wasm-bindgen's `web` target into threads/). Started by the page only when it is
// cross-origin isolated, as `threads/worker.js?threads=N`: the wasm starts a pool of N threads
// (wasm-bindgen-rayon, shared memory) alongside its first requests, then behaves exactly as ../worker.js.
const threads = Number(new URL(import.meta.url).searchParams.get("threads")) || 2;
// Read by the wasm's start (src/web/worker.rs); the pool's own workers load the same module without it.
self.NLU_LAB_THREADS = threads;

// As in ../worker.js: a dead wasm tells the page in a plain string (normal messages are ArrayBuffers).
function reportFatal(reason) {
  const text = reason && reason.message ? `${reason.name || "Error"}: ${reason.message}` : String(reason);
  self.postMessage(text);
}
self.addEventListener("unhandledrejection", (event) => reportFatal(event.reason));
self.addEventListener("error", (event) => reportFatal(event.error || event.message));
import("./nlu-lab-worker.js").then((m) => m.default()).catch(reportFatal);
