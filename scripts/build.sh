#!/usr/bin/env bash
# Build the release site into dist/ (Trunk, wasm32 + SIMD128, LTO, wasm-opt -O3 from npm binaryen 132).
# Extra arguments go to `trunk build`, e.g. --public-url /nlu-lab/ (default: relative URLs, any sub-path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
# npm's binaryen first: Debian's wasm-opt 108 produces a wasm that validates but breaks in Chromium.
export PATH="$PWD/node_modules/.bin:$PATH"
trunk build --release "$@"
echo "[build] site in dist/: $(du -sh dist | cut -f1)"
