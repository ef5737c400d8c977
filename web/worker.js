// Loads the inference worker's wasm (Trunk builds it with wasm-bindgen's no-modules target).
// Relative URLs resolve against this script, so the site works under any sub-path.
importScripts("./nlu-lab-worker.js");

// A wasm trap inside an async task surfaces as an unhandled rejection, which the page's `worker.onerror` never
// sees: tell the page in a plain string (every normal message is an ArrayBuffer), so it can fail the request and
// start a fresh worker instead of waiting forever.
function reportFatal(reason) {
  const text = reason && reason.message ? `${reason.name || "Error"}: ${reason.message}` : String(reason);
  self.postMessage(text);
}
self.addEventListener("unhandledrejection", (event) => reportFatal(event.reason));
wasm_bindgen("./nlu-lab-worker_bg.wasm").catch(reportFatal);
