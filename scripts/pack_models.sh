#!/usr/bin/env bash
# Compact packs for a site that serves its own models (scripts/build.sh --bundle-models SPEC): for each
# `repo:dtype` of SPEC (dtype f16 or int8), fetch the catalogue model's files at their pinned revisions from
# NLU_LAB_HUB (default https://huggingface.co: GitHub's runner reaches it; here, the loopback hub), check each
# against its pin (size and sha256), pack it with `nlu-lab pack` (weights in pieces of at most
# NLU_LAB_MAX_PIECE_MB MiB, default 50: GitHub Pages' limit), and lay it out as a hub mirror:
#   $NLU_LAB_CACHE/bundle/models/<repo>/resolve/<dtype>-<revision>/<file>   and   .../bundle/packs.json
# (catalogue::BundledPack for each). scripts/bundle_models.sh (Trunk's post_build hook) copies that into the site.
# A source that does not match its pin stops the build, unless its repo is listed in NLU_LAB_BUNDLE_UNVERIFIED
# (the tests' synthetic CLIP): then the pack is marked not verified, and the app says so.
# Safe to re-run: fetched sources are kept (and checked again), packs are made again.
#
# Example: bash scripts/pack_models.sh "sentence-transformers/all-MiniLM-L6-v2:int8 openai/clip-vit-base-patch32:int8"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spec=${1:-${NLU_LAB_BUNDLE_MODELS:-}}
if [ -z "$spec" ]; then
  echo "pack_models.sh: no models named (SPEC: repo:int8 or repo:f16, separated by spaces or commas)" >&2
  exit 2
fi
cache=${NLU_LAB_CACHE:-$PWD/.cache}
out=$cache/bundle
target=${CARGO_TARGET_DIR:-$PWD/target}

# The dev profile: the dependencies (candle) are optimised (Cargo.toml). NLU_LAB_PACK_CLI: a CLI built already
# (the e2e test takes scripts/test.sh's).
cli=${NLU_LAB_PACK_CLI:-}
if [ -z "$cli" ]; then
  cargo build --quiet --bin nlu-lab
  cli=$target/debug/nlu-lab
fi
mkdir -p "$out"
"$cli" catalogue > "$out.catalogue.json"

python3 - "$spec" "$out" "$cli" "${NLU_LAB_HUB:-https://huggingface.co}" "${NLU_LAB_MAX_PIECE_MB:-50}" \
  "${NLU_LAB_BUNDLE_UNVERIFIED:-}" <<'PY'
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.getcwd(), 'scripts'))
from fetch_pinned import fetch_source, sha256

spec, out, cli, hub, piece_mb, unverified = sys.argv[1:]
unverified = set(unverified.replace(',', ' ').split())
catalogue = {m['repo']: m for m in json.load(open(out + '.catalogue.json'))['models']}

packs, site = [], os.path.join(out, 'models')
shutil.rmtree(site, ignore_errors=True)
for item in spec.replace(',', ' ').split():
    repo, _, dtype = item.rpartition(':')
    if dtype not in ('f16', 'int8') or repo not in catalogue:
        sys.exit(f'pack_models.sh: "{item}": give repo:int8 or repo:f16 with a catalogue repo ({", ".join(catalogue)})')
    entry = catalogue[repo]
    source, verified = fetch_source(entry, hub, os.path.join(out, 'sources'), repo in unverified, 'pack_models.sh')
    revision = f"{dtype}-{entry['revision']}"
    dest = os.path.join(site, repo, 'resolve', revision)
    os.makedirs(dest, exist_ok=True)
    if subprocess.run([cli, 'pack', '--model', source, '--dtype', dtype, '--out', dest, '--repo', repo,
                       '--revision', entry['revision'], '--max-piece-mb', piece_mb]).returncode != 0:
        sys.exit(f'pack_models.sh: packing {repo} as {dtype} failed (above)')
    files = [{'name': n, 'size': os.path.getsize(os.path.join(dest, n)), 'sha256': sha256(os.path.join(dest, n))}
             for n in sorted(os.listdir(dest))]
    limit = int(piece_mb) << 20
    too_big = [f['name'] for f in files if f['size'] > limit]
    if too_big:
        sys.exit(f'pack_models.sh: {", ".join(too_big)} over {piece_mb} MiB')
    packs.append({'repo': repo, 'dtype': dtype, 'revision': revision, 'source_revision': entry['revision'],
                  'source_sha256': sha256(os.path.join(source, 'model.safetensors')), 'source_verified': verified,
                  'files': files})
    print(f"[bundle] {repo} {dtype}: {sum(f['size'] for f in files) / 1e6:.1f} MB in {len(files)} files "
          f"(source {os.path.getsize(os.path.join(source, 'model.safetensors')) / 1e6:.1f} MB), {'verified' if verified else 'NOT verified'}", flush=True)
with open(os.path.join(out, 'packs.json'), 'w') as f:
    json.dump(packs, f, indent=1)
print(f"[bundle] {len(packs)} packs, {sum(f['size'] for p in packs for f in p['files']) / 1e6:.1f} MB in {out}/models", flush=True)
PY
