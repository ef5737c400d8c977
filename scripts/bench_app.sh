#!/usr/bin/env bash
# What a student waits for in the release app (headless Chromium, worker, loopback hub): run → head view at 16
# and 128 tokens, the model view, a head switched off (click → redrawn), and CLIP classify with 2 and 8 captions on a full-depth ViT-B/32-shaped CLIP.
# Not part of the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/fetch_models.sh >/dev/null
[ -f dist/index.html ] || bash scripts/build.sh
CACHE=${NLU_LAB_CACHE:-$PWD/.cache}
FULL=$CACHE/models/clip-b32-full-synthetic
[ "${BENCH_APP_ONLY:-}" = attention ] || [ -s "$FULL/model.safetensors" ] || cargo run --quiet --release --features bench --bin nlu-lab-dev -- synth-clip \
  --fixture tests/fixtures/clip/tiny-clip-b32 --out "$FULL" --full-depth
node tests/e2e/bench-app.mjs "$FULL"
