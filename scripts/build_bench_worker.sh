#!/usr/bin/env bash
# The benchmark build of the inference worker, for scripts/bench.sh (tests/e2e/bench-page): nlu-lab-worker with the
# `bench` feature (it answers the bench page's JSON string requests, src/web/bench_requests.rs), otherwise the
# site's release worker as Trunk builds it (release + LTO, wasm32 + SIMD128 from .cargo/config.toml, wasm-bindgen's
# no-modules target, wasm-opt -O3 from npm binaryen 132, web/worker.js), into OUT_DIR; and the threaded worker
# with the same feature (scripts/build_threads.sh) into OUT_DIR/threads. The site itself (dist/) never has it.
#   scripts/build_bench_worker.sh OUT_DIR
# A threaded build that fails leaves no OUT_DIR/threads (tests/e2e/bench-vs-ort.mjs then skips the 2-thread runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: scripts/build_bench_worker.sh OUT_DIR}
bash scripts/setup.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"

# No RUSTFLAGS from the environment: they would replace the SIMD128 flag of .cargo/config.toml.
env -u RUSTFLAGS cargo build --release --target wasm32-unknown-unknown --bin nlu-lab-worker --features bench
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
wasm=$target_dir/wasm32-unknown-unknown/release/nlu-lab-worker.wasm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wasm-bindgen --target no-modules --no-typescript --out-dir "$tmp" --out-name nlu-lab-worker "$wasm"
wasm-opt -O3 "$tmp/nlu-lab-worker_bg.wasm" -o "$tmp/nlu-lab-worker_bg.opt.wasm"
mv "$tmp/nlu-lab-worker_bg.opt.wasm" "$tmp/nlu-lab-worker_bg.wasm"
cp web/worker.js "$tmp/worker.js"
mkdir -p "$out"
rm -rf "${out:?}"/*
cp -r "$tmp"/. "$out"/
echo "[bench-worker] worker with benchmark requests in $out: $(du -sh "$out" | cut -f1)"

if [ "${NLU_LAB_NO_THREADS:-0}" = 1 ]; then
  echo "[bench-worker] NLU_LAB_NO_THREADS=1: no threaded bench worker"
elif ! NLU_LAB_WORKER_FEATURES=bench bash scripts/build_threads.sh "$out/threads"; then
  rm -rf "$out/threads"
  echo "[bench-worker] the threaded bench worker did not build (scripts/build_threads.sh, see above)" >&2
fi
