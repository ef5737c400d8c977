#!/usr/bin/env bash
# Our release wasm (the app's worker, built with the `bench` feature so that it answers the bench page:
# scripts/build_bench_worker.sh) against onnxruntime-web (wasm, 1 thread) on the same weights and
# inputs, in one headless Chromium: MiniLM and a bert-base-shaped encoder at 16/64/128 tokens (attentions returned
# by both), CLIP ViT-B/32 (full-depth synthetic) with 1 image and 2/8 captions; warm start and wasm memory.
# Then, on a cross-origin isolated page, bert-base 64/128 and CLIP 2/8 on 2 threads (BENCH_THREADS) for both: ours =
# the threaded bench worker, onnxruntime-web numThreads 2, with the speed-up over 1 thread. The app's warm start is
# timed on the site itself (dist/, whose worker has no benchmark requests).
# Prints a table and `target <name>: ...` lines. Not part of the tests; figures are noisy on a shared machine.
#   scripts/bench.sh [--no-build]     (--no-build: time the dist/ and the bench worker already built)
# BENCH_WORKER: a bench worker already built (scripts/build_bench_worker.sh DIR), used as it is; by default it is
# built into target/bench-worker (threaded one: its threads/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
bash scripts/fetch_models.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"
CACHE=${NLU_LAB_CACHE:-$PWD/.cache}
MINILM=$CACHE/models/all-MiniLM-L6-v2
BERT=$CACHE/models/bert-base-synthetic
CLIP=$CACHE/models/clip-b32-full-synthetic
ONNX=$CACHE/onnx
VENV=${NLU_LAB_REF_VENV:-/root/.cache/nlu-lab/ref-venv}

[ -s "$CLIP/model.safetensors" ] || cargo run --quiet --release --features bench --bin nlu-lab-dev -- synth-clip \
  --fixture tests/fixtures/clip/tiny-clip-b32 --out "$CLIP" --full-depth
[ -s "$BERT/model.safetensors" ] || cargo run --quiet --release --features bench --bin nlu-lab-dev -- synth-bert \
  --tokenizer "$MINILM/tokenizer.json" --out "$BERT"

# The ONNX files, exported from the same folders once (the reference venv of tests/fixtures/README.md).
if [ ! -s "$ONNX/minilm.onnx" ] || [ ! -s "$ONNX/bert-base.onnx" ] || [ ! -s "$ONNX/clip-b32.onnx" ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers safetensors tokenizers numpy
  fi
  "$VENV/bin/python" -c 'import onnx, onnxscript' 2>/dev/null || "$VENV/bin/pip" install --quiet onnx onnxscript
  mkdir -p "$ONNX"
  [ -s "$ONNX/minilm.onnx" ] || "$VENV/bin/python" scripts/export_onnx.py bert "$MINILM" "$ONNX/minilm.onnx"
  [ -s "$ONNX/bert-base.onnx" ] || "$VENV/bin/python" scripts/export_onnx.py bert "$BERT" "$ONNX/bert-base.onnx"
  [ -s "$ONNX/clip-b32.onnx" ] || "$VENV/bin/python" scripts/export_onnx.py clip "$CLIP" "$ONNX/clip-b32.onnx"
fi

if [ "${1:-}" != "--no-build" ] || [ ! -f dist/index.html ]; then
  bash scripts/build.sh >/dev/null
fi
if [ -z "${BENCH_WORKER:-}" ]; then
  export BENCH_WORKER=${CARGO_TARGET_DIR:-$PWD/target}/bench-worker
  if [ "${1:-}" != "--no-build" ] || [ ! -f "$BENCH_WORKER/worker.js" ]; then
    bash scripts/build_bench_worker.sh "$BENCH_WORKER" >/dev/null
  fi
fi
node tests/e2e/bench-vs-ort.mjs "$MINILM" "$BERT" "$CLIP" "$ONNX"
