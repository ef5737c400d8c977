#!/usr/bin/env bash
# Build the engine as a JavaScript package into pkg/dist/ (git-ignored): ES module, .wasm, .d.ts, from the
# nlu-lab-pkg bin (src/bin/pkg.rs) — release, wasm32 + SIMD128 (.cargo/config.toml), wasm-bindgen --target web,
# then wasm-opt -O3 from npm binaryen 132 (never Debian's wasm-opt 108, which breaks the module in Chromium).
# Safe to re-run: cargo rebuilds only what changed, and wasm-opt is skipped when the wasm is the same as last time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"

# No RUSTFLAGS from the environment: they would replace the SIMD128 flag of .cargo/config.toml.
env -u RUSTFLAGS cargo build --release --target wasm32-unknown-unknown --bin nlu-lab-pkg
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
wasm="$target_dir/wasm32-unknown-unknown/release/nlu-lab-pkg.wasm"
out=pkg/dist
stamp="$out/.built-from"
sum=$(sha256sum "$wasm" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -s "$out/nlu_lab_bg.wasm" ]; then
  echo "[build_pkg] $out is up to date"
else
  # Built aside, then swapped in: an interrupted run never leaves a half-written package.
  tmp=$(mktemp -d pkg/.dist-XXXXXX) && chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  wasm-bindgen --target web --out-dir "$tmp" --out-name nlu_lab "$wasm"
  wasm-opt -O3 "$tmp/nlu_lab_bg.wasm" -o "$tmp/nlu_lab_bg.opt.wasm"
  mv "$tmp/nlu_lab_bg.opt.wasm" "$tmp/nlu_lab_bg.wasm"
  echo "$sum" > "$tmp/.built-from"
  rm -rf "$out"
  mv "$tmp" "$out"
fi
echo "[build_pkg] package in pkg/: $(ls "$out" | paste -sd' '); nlu_lab_bg.wasm $(stat -c %s "$out/nlu_lab_bg.wasm") bytes ($(gzip -c "$out/nlu_lab_bg.wasm" | wc -c) gzipped)"
