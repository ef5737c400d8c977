#!/usr/bin/env bash
# CLIP ViT-B/32 in f32, f16 and int8 (packed by `nlu-lab pack`) in the release app: bytes on the wire, worker memory
# after load, time to score 2 and 8 captions, the precisions run in turn (tests/e2e/bench-compact.mjs). Synthetic
# weights of the real shape (Hugging Face is unreachable here). Prints figures; not part of the tests.
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
node tests/e2e/bench-compact.mjs "f32=$CLIP" "f16=$CLIP-f16" "int8=$CLIP-int8"
