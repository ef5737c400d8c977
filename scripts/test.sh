#!/usr/bin/env bash
# Run every test layer: native cargo tests (engine vs. reference goldens), wasm-bindgen-test in headless
# Chromium (engine in wasm, browser glue), the release build + SIMD check, the JavaScript package, and end-to-end
# Playwright tests against the built site and the package with the loopback hub. Installs what is missing first.
# Exit non-zero on any failure.
#
# Two lanes run side by side after set-up, because this machine class has two cores and much of a wasm build is
# single-threaded (each fat-LTO link, most of wasm-opt):
#   native: cargo test → the tiny synthetic CLIP the e2e tests serve
#   wasm:   the release site (and its threaded worker) → the sub-path site → the JavaScript package → SIMD check
#           → wasm-bindgen-test, built in the release profile so that it reuses the site's compiled dependencies
# then the end-to-end layer, two test files at a time. Each layer prints `[test] layer NAME: passed|FAILED in N s`
# when it ends, then its output.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
CACHE=${NLU_LAB_CACHE:-$REPO/.cache}
LOGS=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$LOGS"' EXIT
run_start=$(date +%s)

# layer NAME COMMAND...: run one layer with its output in $LOGS/NAME.log; print its time, status and output when
# it ends (under a lock, so that two lanes' reports do not interleave). Returns the command's exit status.
layer() {
  local name=$1; shift
  local log start rc
  log="$LOGS/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' _).log"
  start=$(date +%s)
  printf '[test] layer %s: started\n' "$name"
  "$@" > "$log" 2>&1
  rc=$?
  {
    flock 9
    printf '\n===== %s =====\n' "$name"
    cat "$log"
    if [ "$rc" -eq 0 ]; then
      printf '[test] layer %s: passed in %d s\n' "$name" $(( $(date +%s) - start ))
    else
      printf '[test] layer %s: FAILED (exit %d) in %d s\n' "$name" "$rc" $(( $(date +%s) - start ))
      echo "$name (exit $rc)" >> "$LOGS/failed"
    fi
    printf '%s\t%d\n' "$name" $(( $(date +%s) - start )) >> "$LOGS/times"
  } 9> "$LOGS/.print-lock"
  return "$rc"
}

setup() { bash scripts/setup.sh && bash scripts/fetch_models.sh; }
layer "setup" setup || { echo "total: 0 passed, 1 failed"; exit 1; }
export PATH="$REPO/node_modules/.bin:$PATH"

tiny_clip() {
  [ -s "$CACHE/models/tiny-clip-b32/model.safetensors" ] || \
    cargo run --quiet --features bench --bin nlu-lab-dev -- synth-clip --fixture tests/fixtures/clip/tiny-clip-b32 \
      --out "$CACHE/models/tiny-clip-b32"
}

native_lane() {
  # 1. The engine against transformers' goldens. The JPEG fuzz harness is skipped here and run on its own with a
  #    60 s budget (its default inside a plain `cargo test` is 5 s), so that its budget is spent once.
  layer "native cargo test" cargo test --quiet --no-fail-fast --features bench -- --skip jpeg_decoder_survives_mutated_files
  layer "JPEG fuzz, 60 s" env NLU_LAB_FUZZ_SECONDS=60 cargo test --quiet --features bench --test jpeg_fuzz -- --nocapture
  # The CLIP lab's e2e tests run on a CLIP of ViT-B/32's shape with the fixture's synthetic weights (no trained CLIP
  # is reachable here); same profile as the tests above, so this only links the CLI.
  layer "tiny synthetic CLIP" tiny_clip
}

# wasm-bindgen-test against a loopback hub that serves the real MiniLM (tests/web.rs fetches it; tests/web_store.rs
# injects faults). The hub's URL is compiled into the tests.
wasm_tests() {
  local hub_root hub_pid rc
  hub_root=$(mktemp -d)
  # MiniLM under its own name (pinned in the catalogue) and under one the catalogue does not know (unpinned; the
  # tests that delete a whole model use it).
  for repo in sentence-transformers/all-MiniLM-L6-v2 nlu-lab-test/minilm-copy; do
    mkdir -p "$hub_root/$repo"
    for f in config.json tokenizer.json model.safetensors; do
      ln -s "$CACHE/models/all-MiniLM-L6-v2/$f" "$hub_root/$repo/$f"
    done
  done
  node tests/hub/hub.mjs --root "$hub_root" --port 0 > "$hub_root.log" 2>&1 &
  hub_pid=$!
  for _ in $(seq 50); do grep -q 'hub listening' "$hub_root.log" 2>/dev/null && break; sleep 0.1; done
  # --release: the dependencies are the release site's (cargo builds a --release test's dependencies in the release
  # profile), already compiled by the wasm lane's build; only the two test crates compile and link here.
  # The runner's default timeout (20 s) is for the whole suite of a file; web_store's downloads and model loads take
  # longer. (No comment lines inside the command below: one would end its line continuation.)
  NLU_LAB_TEST_HUB=$(grep -o 'http://[0-9.:]*' "$hub_root.log" | head -1) \
  WASM_BINDGEN_TEST_TIMEOUT=300 \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
    cargo test --release --no-fail-fast --target wasm32-unknown-unknown --test web --test web_store
  rc=$?
  kill "$hub_pid" 2>/dev/null
  rm -rf "$hub_root" "$hub_root.log"
  return "$rc"
}

wasm_lane() {
  # 3. The release site (the threaded worker compiles alongside, see scripts/build.sh), and its SIMD128 check.
  layer "release build" env NLU_LAB_ALSO_PKG=1 bash scripts/build.sh
  # The same site built for a sub-path (as GitHub Pages serves a project site), for tests/e2e/subpath.test.mjs.
  # Cargo's output is reused: this costs wasm-bindgen and wasm-opt again.
  layer "release build for /nlu-lab/" bash scripts/build.sh --public-url /nlu-lab/ --dist target/dist-subpath
  # The engine as a JavaScript package (pkg/dist/), for tests/e2e/pkg.test.mjs; its bin was linked with the site's.
  layer "JavaScript package" bash scripts/build_pkg.sh
  layer "SIMD128 check" bash scripts/check_simd.sh
  # 2. Browser glue and the engine compiled to wasm, in headless Chromium.
  layer "browser: wasm-bindgen-test in headless Chromium" wasm_tests
}

native_lane &
native_pid=$!
wasm_lane &
wasm_pid=$!
wait "$native_pid" "$wasm_pid"

# 4. End to end: the loopback hub's own tests, then Playwright against dist/ (a copy with a bundled model mirror too)
#    and the package's example page, two files at a time (each file has its own Chromium, hub and static server).
layer "end-to-end: hub + Playwright in headless Chromium" node --test --test-concurrency=2 tests/hub/ tests/e2e/

cat "$LOGS"/*.log > "$LOGS/all"
passed=$(( $(grep -oE '[0-9]+ passed' "$LOGS/all" | awk '{s+=$1} END {print s+0}') + $(grep -oE '^# pass [0-9]+' "$LOGS/all" | awk '{s+=$3} END {print s+0}') ))
failed=$(( $(grep -oE '[0-9]+ failed' "$LOGS/all" | awk '{s+=$1} END {print s+0}') + $(grep -oE '^# fail [0-9]+' "$LOGS/all" | awk '{s+=$3} END {print s+0}') ))
echo
echo "[test] time per layer (the native and wasm lanes overlap):"
awk -F'\t' '{printf "[test]   %-52s %5d s\n", $1, $2}' "$LOGS/times"
echo "[test] whole run: $(( $(date +%s) - run_start )) s"
if [ -s "$LOGS/failed" ]; then
  sed 's/^/FAILED layer: /' "$LOGS/failed"
  failed=$(( failed > 0 ? failed : 1 ))
fi
echo "total: $passed passed, $failed failed"
[ ! -s "$LOGS/failed" ]
