#!/usr/bin/env bash
# Build the release site into dist/ (Trunk, wasm32 + SIMD128, LTO, wasm-opt -O3 from npm binaryen 132), then the
# threaded inference worker into dist/threads/ (scripts/build_threads.sh, nightly) and the service worker's file
# list again so that it includes threads/. NLU_LAB_NO_THREADS=1 skips the threaded worker (one thread everywhere).
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
dist=dist
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --dist) dist=${args[$((i + 1))]} ;;
    --dist=*) dist=${args[$i]#--dist=} ;;
  esac
done
rm -rf "$dist/threads"
if [ "${NLU_LAB_NO_THREADS:-0}" = 1 ]; then
  echo "[build] NLU_LAB_NO_THREADS=1: no threaded worker, the site runs on one thread"
else
  start=$(date +%s)
  if bash scripts/build_threads.sh "$dist/threads"; then
    echo "[build] threaded worker built in $(( $(date +%s) - start )) s"
  else
    rm -rf "$dist/threads"
    printf '\n[build] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
    printf '[build] !!! THE THREADED WORKER DID NOT BUILD (scripts/build_threads.sh, see above): this site runs on ONE thread\n' >&2
    printf '[build] !!! everywhere; the threads test (tests/e2e/threads.test.mjs) will fail.\n' >&2
    printf '[build] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
  fi
fi
# The service worker precaches every file of the build: list them again, threads/ included.
TRUNK_STAGING_DIR=$dist bash scripts/make_sw.sh
echo "[build] site in $dist/: $(du -sh "$dist" | cut -f1)"
