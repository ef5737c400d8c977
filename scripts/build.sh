#!/usr/bin/env bash
# Build the release site into dist/ (Trunk, wasm32 + SIMD128, LTO, wasm-opt -O3 from npm binaryen 132), with the
# threaded inference worker (scripts/build_threads.sh, nightly, compiled alongside) in dist/threads/, and the
# service worker's file list again so that it includes threads/. NLU_LAB_NO_THREADS=1 skips the threaded worker (one thread everywhere).
# --bundle-models SPEC (or NLU_LAB_BUNDLE_MODELS=SPEC): also serve compact packs of catalogue models from the site
# itself, under dist/models/ in pieces of at most 50 MiB, e.g.
#   --bundle-models "sentence-transformers/all-MiniLM-L6-v2:int8 openai/clip-vit-base-patch32:int8"
# (scripts/pack_models.sh fetches each from NLU_LAB_HUB, default huggingface.co, checks it against its pin and packs
# it; scripts/bundle_models.sh puts it in the site). For classrooms of sixty on one Wi-Fi, or where the Hub is blocked.
# --clip-example REPO (or NLU_LAB_CLIP_EXAMPLE=REPO): the CLIP lab shows one photo classified in advance by REPO
# (e.g. openai/clip-vit-base-patch32, fetched like the packs and checked against its pins; scripts/clip_example.sh;
# "none": no example)
# on a first visit, while the model downloads. The pages workflow does this on GitHub's runner, which reaches the Hub.
# Other arguments go to `trunk build`, e.g. --public-url /nlu-lab/ (default: relative URLs, any sub-path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --bundle-models) export NLU_LAB_BUNDLE_MODELS=${2:?--bundle-models takes a list: repo:int8 repo:f16 ...}; shift 2 ;;
    --bundle-models=*) export NLU_LAB_BUNDLE_MODELS=${1#--bundle-models=}; shift ;;
    --clip-example) export NLU_LAB_CLIP_EXAMPLE=${2:?--clip-example takes a CLIP model: openai/clip-vit-base-patch32}; shift 2 ;;
    --clip-example=*) export NLU_LAB_CLIP_EXAMPLE=${1#--clip-example=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "${NLU_LAB_BUNDLE_MODELS:-}" ]; then bash scripts/pack_models.sh "$NLU_LAB_BUNDLE_MODELS"; fi
[ "${NLU_LAB_CLIP_EXAMPLE:-}" = none ] && unset NLU_LAB_CLIP_EXAMPLE
if [ -n "${NLU_LAB_CLIP_EXAMPLE:-}" ]; then bash scripts/clip_example.sh "$NLU_LAB_CLIP_EXAMPLE"; fi
# The page and the worker compare this before talking (a tab left open across a deploy); one id per commit, so a
# rebuild of the same commit reuses the compiled crate.
export NLU_LAB_BUILD_ID="${NLU_LAB_BUILD_ID:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}"
# npm's binaryen first: Debian's wasm-opt 108 produces a wasm that validates but breaks in Chromium.
export PATH="$PWD/node_modules/.bin:$PATH"
dist=dist
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --dist) dist=${args[$((i + 1))]} ;;
    --dist=*) dist=${args[$i]#--dist=} ;;
  esac
done

# The threaded worker (nightly, its own target folder) compiles alongside the stable build: much of each build is
# single-threaded (fat-LTO links, wasm-opt), so the two share the cores well.
threads_out=target/threads-site/$(basename "$dist")
threads_log=$(mktemp)
trap 'rm -f "$threads_log"; if [ -n "${threads_pid:-}" ]; then kill "$threads_pid" 2>/dev/null || true; fi' EXIT
if [ "${NLU_LAB_NO_THREADS:-0}" != 1 ]; then
  threads_start=$(date +%s)
  bash scripts/build_threads.sh "$threads_out" > "$threads_log" 2>&1 &
  threads_pid=$!
fi

# The site's bins in one cargo run, so that their fat-LTO links run side by side (Trunk builds them one after the
# other); Trunk then finds them built. NLU_LAB_ALSO_PKG=1 (scripts/test.sh) links the JavaScript package's bin too.
bins=(--bin nlu-lab-app --bin nlu-lab-worker)
[ "${NLU_LAB_ALSO_PKG:-0}" = 1 ] && bins+=(--bin nlu-lab-pkg)
# No RUSTFLAGS from the environment: they would replace the SIMD128 flag of .cargo/config.toml (and Trunk's build
# would then not match this one).
env -u RUSTFLAGS cargo build --release --target wasm32-unknown-unknown "${bins[@]}"
env -u RUSTFLAGS trunk build --release "${args[@]}"

rm -rf "$dist/threads"
if [ "${NLU_LAB_NO_THREADS:-0}" = 1 ]; then
  echo "[build] NLU_LAB_NO_THREADS=1: no threaded worker, the site runs on one thread"
elif wait "$threads_pid"; then
  cat "$threads_log"
  cp -r "$threads_out" "$dist/threads"
  echo "[build] threaded worker built in $(( $(date +%s) - threads_start )) s (alongside the rest)"
else
  cat "$threads_log"
  printf '\n[build] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' >&2
  printf '[build] !!! THE THREADED WORKER DID NOT BUILD (scripts/build_threads.sh, see above): this site runs on ONE thread\n' >&2
  printf '[build] !!! everywhere; the threads test (tests/e2e/threads.test.mjs) will fail.\n' >&2
  printf '[build] !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\n' >&2
fi
# The service worker precaches every file of the build: list them again, threads/ included.
TRUNK_STAGING_DIR=$dist bash scripts/make_sw.sh
echo "[build] site in $dist/: $(du -sh "$dist" | cut -f1)$([ -d "$dist/models" ] && echo ", of which bundled models $(du -sh "$dist/models" | cut -f1)")"
