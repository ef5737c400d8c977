#!/usr/bin/env bash
# Fail when the release worker wasm (the one that runs the models) has no SIMD128 instructions; print the count
# and the sizes of every wasm in dist/, raw and gzipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shopt -s nullglob
status=0
for wasm in dist/*.wasm; do
  raw=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  simd=$(wasm-objdump -d "$wasm" | grep -cE '\s(f32x4|i32x4|v128)\.' || true)
  printf '[simd] %-45s %9d bytes raw, %9d gzipped, %6d SIMD128 ops (f32x4/i32x4/v128)\n' "$(basename "$wasm")" "$raw" "$gz" "$simd"
  if [[ "$wasm" == *worker* ]] && [ "$simd" -eq 0 ]; then
    echo "[simd] FAIL: $wasm has no SIMD128 instructions (is -C target-feature=+simd128 set?)" >&2
    status=1
  fi
done
[ -n "$(echo dist/*worker*.wasm)" ] || { echo "[simd] FAIL: no worker wasm in dist/" >&2; exit 1; }
exit $status
