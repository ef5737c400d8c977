#!/usr/bin/env bash
# The JSON and standalone HTML exports at 512 tokens, MiniLM (6 × 12) and bert-base (12 × 12) shapes: sizes,
# native write times and peak heap (`nlu-lab-dev export-bench`, synthetic attention), then in headless Chromium
# each standalone page's first draw, decode and layer change (tests/e2e/bench-export.mjs); with --app, also the
# app's own export buttons on a real 512-token MiniLM run and the page's wasm memory (needs dist/). Not part of
# the tests.   scripts/bench_export.sh [--app]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${CARGO_TARGET_DIR:-$PWD/target}/export-bench
cargo run --quiet --release --features bench --bin nlu-lab-dev -- export-bench --out "$out"
if [ "${1:-}" = "--app" ]; then
  bash scripts/fetch_models.sh >/dev/null
  [ -f dist/index.html ] || bash scripts/build.sh
fi
node tests/e2e/bench-export.mjs "$out" "$@"
