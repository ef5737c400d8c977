#!/usr/bin/env bash
# CLIP ViT-B/32 and MiniLM-L6 in f32, f16 and int8 (packed by `nlu-lab pack`) in the release app: bytes on the wire,
# worker memory after load, time to score 2 and 8 captions / to run 16 and 64 tokens, the precisions run in turn
# (tests/e2e/bench-compact.mjs). CLIP's weights are synthetic of the real shape (Hugging Face is unreachable here),
# MiniLM's the real ones. Prints figures; not part of the tests. NLU_LAB_BENCH_ONLY=clip|minilm runs one of them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
[ -f dist/index.html ] || bash scripts/build.sh
CACHE=${NLU_LAB_CACHE:-$PWD/.cache}
CLIP=$CACHE/models/clip-b32-full-synthetic
dev() { cargo run --quiet --features bench --bin nlu-lab-dev -- "$@"; }
[ -s "$CLIP/model.safetensors" ] || dev synth-clip --fixture tests/fixtures/clip/tiny-clip-b32 --out "$CLIP" --full-depth
for dtype in f16 int8; do
  # The pack prints its size and its deviation from the f32 model.
  [ -s "$CLIP-$dtype/model.safetensors" ] || cargo run --quiet --release --bin nlu-lab -- pack --model "$CLIP" --dtype "$dtype" --out "$CLIP-$dtype"
done
MINILM=$CACHE/models/all-MiniLM-L6-v2
[ -s "$MINILM/model.safetensors" ] || bash scripts/fetch_models.sh
ONLY=${NLU_LAB_BENCH_ONLY:-}
if [ "$ONLY" != minilm ]; then
  node tests/e2e/bench-compact.mjs "f32=$CLIP" "f16=$CLIP-f16" "int8=$CLIP-int8"
fi
if [ "$ONLY" != clip ]; then
  PACKS=$CACHE/bench-packs
  for dtype in f16 int8; do
    [ -s "$PACKS/minilm-$dtype/model.safetensors" ] || cargo run --quiet --release --bin nlu-lab -- pack --model "$MINILM" --dtype "$dtype" --out "$PACKS/minilm-$dtype"
  done
  node tests/e2e/bench-compact.mjs "f32=$MINILM" "f16=$PACKS/minilm-f16" "int8=$PACKS/minilm-int8"
fi
