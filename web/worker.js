// Loads the inference worker's wasm (Trunk builds it with wasm-bindgen's no-modules target).
// Relative URLs resolve against this script, so the site works under any sub-path.
importScripts("./nlu-lab-worker.js");
wasm_bindgen("./nlu-lab-worker_bg.wasm");
