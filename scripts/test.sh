#!/usr/bin/env bash
# Run every test layer: native cargo tests (engine vs. reference goldens), wasm-bindgen-test in headless
# Chromium (engine in wasm, browser glue), the release build + SIMD check, the JavaScript package, and end-to-end
# Playwright tests against the built site and the package with the loopback hub. Installs what is missing first.
# Exit non-zero on any failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
LOG=$(mktemp)
trap 'rm -f "$LOG"; [ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null; [ -n "${HUB_ROOT:-}" ] && rm -rf "$HUB_ROOT"' EXIT

bash scripts/setup.sh || exit 1
bash scripts/fetch_models.sh || exit 1
export PATH="$REPO/node_modules/.bin:$PATH"

failed_layers=()
layer() {  # layer NAME COMMAND...: run one layer, keep its output for the counts
  local name=$1; shift
  printf '\n===== %s =====\n' "$name"
  "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || failed_layers+=("$name (exit $rc)")
}

# 1. Native: the engine against transformers' goldens. `bench`: the tests on synthetic checkpoints (engine::synth)
#    and the dev commands (nlu-lab-dev) are behind that feature; the product builds never have it.
layer "native cargo test" cargo test --quiet --features bench

# 2. Browser glue in headless Chromium. The loopback hub serves the real MiniLM for the fetch tests.
HUB_ROOT=$(mktemp -d)
mkdir -p "$HUB_ROOT/sentence-transformers/all-MiniLM-L6-v2"
for f in config.json tokenizer.json model.safetensors; do
  ln -s "${NLU_LAB_CACHE:-$REPO/.cache}/models/all-MiniLM-L6-v2/$f" "$HUB_ROOT/sentence-transformers/all-MiniLM-L6-v2/$f"
done
node tests/hub/hub.mjs --root "$HUB_ROOT" --port 0 > "$HUB_ROOT.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 50); do grep -q 'hub listening' "$HUB_ROOT.log" 2>/dev/null && break; sleep 0.1; done
export NLU_LAB_TEST_HUB=$(grep -o 'http://[0-9.:]*' "$HUB_ROOT.log" | head -1)
layer "browser: wasm-bindgen-test in headless Chromium" env \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner CHROMEDRIVER=/usr/bin/chromedriver \
  cargo test --target wasm32-unknown-unknown --test web --test web_store
kill "$HUB_PID" 2>/dev/null; HUB_PID=; rm -f "$HUB_ROOT.log"

# 3. Release site, and its SIMD128 check.
layer "release build" bash scripts/build.sh
# The same site built for a sub-path (as GitHub Pages serves a project site), for tests/e2e/subpath.test.mjs.
# Trunk reuses the compiled wasm: this costs only wasm-bindgen and wasm-opt again (about 2 minutes here).
layer "release build for /nlu-lab/" bash scripts/build.sh --public-url /nlu-lab/ --dist target/dist-subpath
layer "SIMD128 check" bash scripts/check_simd.sh
# The engine as a JavaScript package (pkg/dist/), for tests/e2e/pkg.test.mjs. The release build above compiled its
# dependencies: this costs the package's own link and wasm-opt (about 2.5 minutes here).
layer "JavaScript package" bash scripts/build_pkg.sh

# 4. End to end: the loopback hub's own tests, then Playwright against dist/ (a copy with a bundled model mirror too)
#    and the package's example page. The CLIP lab runs on a CLIP of ViT-B/32's shape with the fixture's synthetic
#    weights (no trained CLIP is reachable here).
[ -s "${NLU_LAB_CACHE:-$REPO/.cache}/models/tiny-clip-b32/model.safetensors" ] || \
  cargo run --quiet --features bench --bin nlu-lab-dev -- synth-clip --fixture tests/fixtures/clip/tiny-clip-b32 \
    --out "${NLU_LAB_CACHE:-$REPO/.cache}/models/tiny-clip-b32"
layer "end-to-end: hub + Playwright in headless Chromium" node --test --test-concurrency=1 tests/hub/ tests/e2e/

passed=$(( $(grep -oE '[0-9]+ passed' "$LOG" | awk '{s+=$1} END {print s+0}') + $(grep -oE '^# pass [0-9]+' "$LOG" | awk '{s+=$3} END {print s+0}') ))
failed=$(( $(grep -oE '[0-9]+ failed' "$LOG" | awk '{s+=$1} END {print s+0}') + $(grep -oE '^# fail [0-9]+' "$LOG" | awk '{s+=$3} END {print s+0}') ))
echo
if [ ${#failed_layers[@]} -gt 0 ]; then
  printf 'FAILED layer: %s\n' "${failed_layers[@]}"
  failed=$(( failed > 0 ? failed : 1 ))
fi
echo "total: $passed passed, $failed failed"
[ ${#failed_layers[@]} -eq 0 ]
