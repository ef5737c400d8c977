#!/usr/bin/env bash
# Install everything nlu-lab needs to build and test, on a Debian machine that has only Rust.
# Safe to re-run: each step checks first and does nothing when its tool is already there.
# Versions and traps: see ../shared/TOOLCHAIN.md (Trunk 0.21.14 on rustc 1.95; npm binaryen 132, never
# Debian's wasm-opt 108, which silently breaks the app).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

TRUNK_VERSION=0.21.14
say() { printf '[setup] %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_missing=()
command -v chromium >/dev/null || apt_missing+=(chromium)
command -v chromedriver >/dev/null || apt_missing+=(chromium-driver)
command -v wasm-objdump >/dev/null || apt_missing+=(wabt)
command -v node >/dev/null || apt_missing+=(nodejs)
command -v npm >/dev/null || apt_missing+=(npm)
python3 -m pip --version >/dev/null 2>&1 || apt_missing+=(python3-pip)
command -v gzip >/dev/null || apt_missing+=(gzip)
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "apt: ${apt_missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup: wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# Nightly, for the threaded inference worker only (scripts/build_threads.sh: -Z build-std needs rust-src). Not
# fatal: without it the site builds and runs on one thread (scripts/build.sh says so, the threads test fails).
NIGHTLY=${NLU_LAB_NIGHTLY:-nightly}
nightly_ok=1
if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
  say "rustup: toolchain $NIGHTLY (for the threaded worker)"
  rustup toolchain install "$NIGHTLY" --profile minimal || nightly_ok=0
fi
if [ $nightly_ok = 1 ] && ! rustup component list --toolchain "$NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
  say "rustup: rust-src for $NIGHTLY"
  rustup component add rust-src --toolchain "$NIGHTLY" || nightly_ok=0
fi
if [ $nightly_ok = 1 ] && ! rustup target list --toolchain "$NIGHTLY" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "rustup: wasm32-unknown-unknown for $NIGHTLY"
  rustup target add wasm32-unknown-unknown --toolchain "$NIGHTLY" || nightly_ok=0
fi
[ $nightly_ok = 1 ] || say "WARNING: no $NIGHTLY toolchain: the threaded worker will not build"

if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  say "cargo install trunk $TRUNK_VERSION (about 6 minutes)"
  cargo install trunk --version "$TRUNK_VERSION" --locked --quiet
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock exactly. Not --locked: a transitive pin of the
# CLI's lock file is not served by the registry mirror here.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ] \
   || ! command -v wasm-bindgen-test-runner >/dev/null; then
  say "cargo install wasm-bindgen-cli $WBG_VERSION (about 3 minutes)"
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" --quiet
fi

# Node tools (playwright-core drives Debian's Chromium; binaryen 132 provides the wasm-opt Trunk uses).
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "tools ready: $(trunk --version), wasm-bindgen $WBG_VERSION, wasm-opt $(node_modules/.bin/wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -c 40)"
