#!/usr/bin/env bash
# The CLIP lab's first-visit example (scripts/build.sh --clip-example REPO, or NLU_LAB_CLIP_EXAMPLE=REPO): fetch the
# catalogue CLIP REPO at its pins from NLU_LAB_HUB (default https://huggingface.co: GitHub's runner reaches it; here,
# the loopback hub) into $NLU_LAB_CACHE/bundle/sources/, check it against its pins (scripts/fetch_pinned.py), and
# classify one photo with the lab's starting captions natively (`nlu-lab clip --format example`). Writes
#   $NLU_LAB_CACHE/clip-example/clip-example.json   and the photo beside it,
# which scripts/bundle_example.sh (Trunk's post_build hook) puts into the site's examples/ and announces in
# index.html. The photo: scikit-image's "chelsea" (CC0), the image of the CLIP goldens' first case.
# Safe to re-run: the fetched model is kept (and checked again).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=${1:-${NLU_LAB_CLIP_EXAMPLE:-}}
[ -n "$repo" ] || { echo "clip_example.sh: name the CLIP model, e.g. openai/clip-vit-base-patch32" >&2; exit 2; }
image=${NLU_LAB_CLIP_EXAMPLE_IMAGE:-tests/fixtures/images/chelsea.png}
# The CLIP lab's DEFAULT_CAPTIONS (src/ui/clip_lab/mod.rs): "Use this image" then gives the example's result.
captions=("a photo of a cat" "a photo of a dog")
cache=${NLU_LAB_CACHE:-$PWD/.cache}
out=$cache/clip-example
cli=${NLU_LAB_PACK_CLI:-}
if [ -z "$cli" ]; then
  cargo build --quiet --bin nlu-lab
  cli=${CARGO_TARGET_DIR:-$PWD/target}/debug/nlu-lab
fi
mkdir -p "$cache/bundle"
"$cli" catalogue > "$cache/bundle.catalogue.json"
python3 scripts/fetch_pinned.py "$cache/bundle.catalogue.json" "${NLU_LAB_HUB:-https://huggingface.co}" \
  "$cache/bundle/sources" "$repo" "${NLU_LAB_BUNDLE_UNVERIFIED:-}"
rm -rf "$out" && mkdir -p "$out"
cp "$image" "$out/"
args=()
for c in "${captions[@]}"; do args+=(--caption "$c"); done
"$cli" clip --model "$cache/bundle/sources/$repo" --image "$out/$(basename "$image")" "${args[@]}" --format example --repo "$repo" \
  > "$out/clip-example.json.part"
mv "$out/clip-example.json.part" "$out/clip-example.json"
echo "[clip example] $repo on $(basename "$image"): $(cat "$out/clip-example.json")"
