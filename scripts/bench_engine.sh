#!/usr/bin/env bash
# Forward-pass time of a bert-base-shaped encoder (synthetic weights; attention and Q/K captured) at 16/64/128
# tokens, natively (`nlu-lab-dev bench`) and as release wasm in headless Chromium (tests/bench_web.rs), side by side
# with GFLOP/s; then the same encoder packed to f16 and int8 against f32 (weight bytes, load, forward, ratio);
# both with the `bench` feature. Not part of the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
export PATH="$PWD/node_modules/.bin:$PATH"
out=$(mktemp)
cargo run --quiet --release --features bench --bin nlu-lab-dev -- bench | tee "$out"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --release --target wasm32-unknown-unknown --features bench --test bench_web -- --nocapture 2>&1 \
  | grep -E '^(bench|precision) wasm' | tee -a "$out"
echo
printf '%-8s %12s %12s %12s %12s %8s\n' seq "native ms" "native GF/s" "wasm ms" "wasm GF/s" "wasm/nat"
for seq in 16 64 128; do
  n=$(grep "bench native seq $seq:" "$out"); w=$(grep "bench wasm seq $seq:" "$out")
  nm=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$n"); ng=$(sed -E 's/.* ([0-9.]+) GFLOP.*/\1/' <<<"$n")
  wm=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$w"); wg=$(sed -E 's/.* ([0-9.]+) GFLOP.*/\1/' <<<"$w")
  printf "%-8s %12s %12s %12s %12s %8s\n" "$seq" "$nm" "$ng" "$wm" "$wg" "$(awk "BEGIN{printf \"%.2f\", $wm/$nm}")"
done
echo
# Compact weights (nlu-lab pack): the same encoder in f32, f16 and int8, timed in turns.
cargo run --quiet --release --features bench --bin nlu-lab-dev -- bench-precision
grep -E '^precision wasm' "$out"
rm -f "$out"
