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

# The network steps (apt, rustup, npm) run in the background while the two cargo installs compile: on a fresh
# machine that overlaps a few minutes of downloads with the CPU-bound part.
network_steps() {
  local apt_missing=()
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
  local nightly=${NLU_LAB_NIGHTLY:-nightly} nightly_ok=1
  if ! rustup run "$nightly" rustc --version >/dev/null 2>&1; then
    say "rustup: toolchain $nightly (for the threaded worker)"
    rustup toolchain install "$nightly" --profile minimal || nightly_ok=0
  fi
  if [ $nightly_ok = 1 ] && ! rustup component list --toolchain "$nightly" --installed 2>/dev/null | grep -q '^rust-src'; then
    say "rustup: rust-src for $nightly"
    rustup component add rust-src --toolchain "$nightly" || nightly_ok=0
  fi
  if [ $nightly_ok = 1 ] && ! rustup target list --toolchain "$nightly" --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "rustup: wasm32-unknown-unknown for $nightly"
    rustup target add wasm32-unknown-unknown --toolchain "$nightly" || nightly_ok=0
  fi
  [ $nightly_ok = 1 ] || say "WARNING: no $nightly toolchain: the threaded worker will not build"

  # Node tools (playwright-core drives Debian's Chromium; binaryen 132 provides the wasm-opt Trunk uses).
  if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] \
     || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}
network_steps &
network_pid=$!

# The two build tools: they only drive cargo, wasm-bindgen and wasm-opt and parse a few files, so they are built
# without TLS or update checks (Trunk runs offline here) and at opt-level 1 without LTO: about a third of the
# compile time of their release profiles.
fast_install() {
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    cargo install --quiet --no-default-features "$@"
}
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  say "cargo install trunk $TRUNK_VERSION"
  fast_install trunk --version "$TRUNK_VERSION" --locked
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock exactly. Not --locked: a transitive pin of the
# CLI's lock file is not served by the registry mirror here.
WBG_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ] \
   || ! command -v wasm-bindgen-test-runner >/dev/null; then
  say "cargo install wasm-bindgen-cli $WBG_VERSION"
  fast_install wasm-bindgen-cli --version "$WBG_VERSION"
fi
wait "$network_pid" || { say "ERROR: installing the system, rustup or npm tools failed (see above)"; exit 1; }
say "tools ready: $(trunk --version), wasm-bindgen $WBG_VERSION, wasm-opt $(node_modules/.bin/wasm-opt --version | awk '{print $3}'), $(chromium --version 2>/dev/null | head -c 40)"
