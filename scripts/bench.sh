#!/usr/bin/env bash
# Our release wasm (the app's worker, built with the `bench` feature so that it answers the bench page:
# scripts/build_bench_worker.sh) against onnxruntime-web (wasm) on the same weights and inputs, in one headless
# Chromium: MiniLM at 16/64 tokens and a bert-base-shaped encoder at 64/128 (attentions returned by both), CLIP
# ViT-B/32 (full-depth synthetic) with 1 image and 2/8 captions; then the same on a cross-origin isolated page on
# 2 threads (BENCH_THREADS) for both, with ours on 1 thread in the same rounds. Each runtime in its own warm worker,
# the runtimes taking turns run by run (BENCH_PAIRS rounds, default 30); per case the median of the per-round ratios
# with a bootstrap 95 % interval, each side's median and min, GFLOP/s against the micro-kernel's measured peak, and
# the CPU other processes used meanwhile (from /proc). onnxruntime-web runs two exports of each model (plain, and
# with an attention_mask input) and the faster one is compared. Then the per-op profile, memory, and the app's warm
# start with its timeline. Ends with `target <case>: ratio <median> [<lower>, <upper>] ours <ms> ms,
# onnxruntime-web <ms> ms` lines. Not part of the tests.
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

# The ONNX files, exported from the same folders once (the reference venv of tests/fixtures/README.md): two exports
# of each model, the second with an attention_mask input too (the report takes the faster one).
EXPORTS="minilm:bert:$MINILM bert-base:bert:$BERT clip-b32:clip:$CLIP"
missing=0
for e in $EXPORTS; do
  IFS=: read -r name kind _ <<<"$e"
  [ -s "$ONNX/$name.onnx" ] && [ -s "$ONNX/$name-mask.onnx" ] || missing=1
done
if [ "$missing" = 1 ]; then
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch transformers safetensors tokenizers numpy
  fi
  "$VENV/bin/python" -c 'import onnx, onnxscript' 2>/dev/null || "$VENV/bin/pip" install --quiet onnx onnxscript
  mkdir -p "$ONNX"
  for e in $EXPORTS; do
    IFS=: read -r name kind dir <<<"$e"
    [ -s "$ONNX/$name.onnx" ] || "$VENV/bin/python" scripts/export_onnx.py "$kind" "$dir" "$ONNX/$name.onnx"
    [ -s "$ONNX/$name-mask.onnx" ] || "$VENV/bin/python" scripts/export_onnx.py "$kind-mask" "$dir" "$ONNX/$name-mask.onnx"
  done
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
