#!/usr/bin/env bash
# The threaded inference worker: nlu-lab-worker with the `threads` feature (a wasm-bindgen-rayon pool for the
# packed matmuls), built on nightly with `-Z build-std` (std with atomics) and shared memory, wasm-bindgen's `web`
# target (module workers), into OUT_DIR (the site's threads/ folder). The page starts it only when it is
# cross-origin isolated (web/sw.js adds COOP/COEP); elsewhere the single-threaded worker runs.
#   scripts/build_threads.sh OUT_DIR
# NLU_LAB_WORKER_FEATURES: more cargo features of that build (scripts/build_bench_worker.sh: `bench`).
# Exit non-zero when it cannot build; scripts/build.sh then ships the site without threads/ (and says so).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: scripts/build_threads.sh OUT_DIR}
NIGHTLY=${NLU_LAB_NIGHTLY:-nightly}
# Its own target folder: other RUSTFLAGS and std would otherwise evict the stable build's cache.
target_dir=${CARGO_TARGET_DIR:-$PWD/target}/threads
export PATH="$PWD/node_modules/.bin:$PATH"

# Shared memory (imported, so every thread of the pool gets the same one), at most 4 GiB like the stable build, and
# the TLS exports wasm-bindgen's thread set-up calls.
RUSTFLAGS="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
-C link-arg=--shared-memory -C link-arg=--max-memory=4294967296 -C link-arg=--import-memory \
-C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size -C link-arg=--export=__tls_align \
-C link-arg=--export=__tls_base" \
CARGO_TARGET_DIR=$target_dir \
  cargo "+$NIGHTLY" build --release --target wasm32-unknown-unknown --bin nlu-lab-worker \
  --features "threads${NLU_LAB_WORKER_FEATURES:+,$NLU_LAB_WORKER_FEATURES}" \
  -Z build-std=panic_abort,std

wasm=$target_dir/wasm32-unknown-unknown/release/nlu-lab-worker.wasm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target web --no-typescript --out-dir "$tmp" --out-name nlu-lab-worker "$wasm"
mkdir -p "$out"
rm -rf "${out:?}"/*
cp -r "$tmp"/. "$out"/
cp web/worker-threads.js "$out/worker.js"
echo "[threads] threaded worker in $out: $(du -sh "$out" | cut -f1)"
