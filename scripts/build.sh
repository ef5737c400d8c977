#!/usr/bin/env bash
# Build the release site into dist/ (Trunk, wasm32 + SIMD128, LTO, wasm-opt -O3 from npm binaryen 132).
# --bundle-models (or NLU_LAB_BUNDLE_MODELS=1): also serve the default model from the site itself, under
# dist/models/ (scripts/bundle_models.sh), for classrooms where huggingface.co is blocked.
# Other arguments go to `trunk build`, e.g. --public-url /nlu-lab/ (default: relative URLs, any sub-path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
args=()
for a in "$@"; do
  if [ "$a" = --bundle-models ]; then export NLU_LAB_BUNDLE_MODELS=1; else args+=("$a"); fi
done
if [ "${NLU_LAB_BUNDLE_MODELS:-0}" = 1 ]; then bash scripts/fetch_models.sh; fi
# npm's binaryen first: Debian's wasm-opt 108 produces a wasm that validates but breaks in Chromium.
export PATH="$PWD/node_modules/.bin:$PATH"
trunk build --release "${args[@]}"
echo "[build] site in dist/: $(du -sh dist | cut -f1)"
