#!/usr/bin/env bash
# Trunk post_build step (run before make_sw.sh), active only with NLU_LAB_BUNDLE_MODELS=1, which
# `scripts/build.sh --bundle-models` sets: puts a hub mirror of the default model into the site,
# models/<repo>/resolve/<revision>/<file>, copied from the cache scripts/fetch_models.sh fills, and announces it to the
# app with <meta name="nlu-lab-hub" content="models" data-repos="…"> in index.html. The app then takes those models
# from the site itself (`?hub=` still wins; other models still come from huggingface.co). For classrooms where
# huggingface.co is blocked. The service worker's precache leaves models/ out: the app keeps weights in IndexedDB.
set -euo pipefail
[ "${NLU_LAB_BUNDLE_MODELS:-0}" = 1 ] || exit 0
staging=${TRUNK_STAGING_DIR:?run by Trunk as a post_build hook (or with TRUNK_STAGING_DIR set)}
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${NLU_LAB_CACHE:-$repo_root/.cache}/models"

# repo, revision (the catalogue's, src/engine/catalogue.rs), folder in the cache. Only MiniLM: the one model
# fetch_models.sh can fetch here (a CLIP would add 605 MB to the site).
models=("sentence-transformers/all-MiniLM-L6-v2 1110a243fdf4706b3f48f1d95db1a4f5529b4d41 all-MiniLM-L6-v2")
repos=()
for m in "${models[@]}"; do
  read -r repo revision dir <<<"$m"
  dest="$staging/models/$repo/resolve/$revision"
  mkdir -p "$dest"
  for f in config.json tokenizer.json model.safetensors; do
    if [ ! -s "$cache/$dir/$f" ]; then
      echo "bundle_models.sh: $cache/$dir/$f is missing: run scripts/fetch_models.sh" >&2
      exit 1
    fi
    # A copy, not a symlink: the Pages artifact and most deploys do not follow links.
    cp "$cache/$dir/$f" "$dest/$f"
  done
  repos+=("$repo")
done
if ! grep -q 'name="nlu-lab-hub"' "$staging/index.html"; then
  sed -i "s|</head>|  <meta name=\"nlu-lab-hub\" content=\"models\" data-repos=\"${repos[*]}\" />\n</head>|" "$staging/index.html"
fi
echo "bundled models: ${repos[*]} ($(du -sh "$staging/models" | cut -f1))"
