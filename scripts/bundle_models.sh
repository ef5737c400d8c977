#!/usr/bin/env bash
# Trunk post_build step (run before make_sw.sh), active only when NLU_LAB_BUNDLE_MODELS names models (which
# `scripts/build.sh --bundle-models SPEC` sets, after scripts/pack_models.sh packed them): copies the packs into the
# site as a hub mirror, models/<repo>/resolve/<dtype>-<revision>/<file>, and announces them to the app with
# <meta name="nlu-lab-hub" content="models" data-packs="[…]"> in index.html (catalogue::BundledPack as JSON, with
# every file's size and sha256). The app then offers each pack first in its selector ("8-bit · 24 MB · from this
# site") and takes it from the site; the full-precision models still come from huggingface.co (or ?hub=). The
# service worker's precache leaves models/ out: the app keeps weights in IndexedDB.
set -euo pipefail
[ -n "${NLU_LAB_BUNDLE_MODELS:-}" ] || exit 0
staging=${TRUNK_STAGING_DIR:?run by Trunk as a post_build hook (or with TRUNK_STAGING_DIR set)}
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${NLU_LAB_CACHE:-$repo_root/.cache}/bundle"
if [ ! -s "$bundle/packs.json" ]; then
  echo "bundle_models.sh: $bundle/packs.json is missing: run scripts/pack_models.sh \"$NLU_LAB_BUNDLE_MODELS\"" >&2
  exit 1
fi
rm -rf "$staging/models"
# Copies, not symlinks: the Pages artifact and most deploys do not follow links.
cp -r "$bundle/models" "$staging/models"
cp "$bundle/packs.json" "$staging/models/packs.json"
python3 - "$staging/index.html" "$bundle/packs.json" <<'PY'
import html, json, re, sys
index, packs = sys.argv[1:]
page = open(index, encoding='utf-8').read()
packs = json.load(open(packs))
meta = f'<meta name="nlu-lab-hub" content="models" data-packs="{html.escape(json.dumps(packs, separators=(",", ":")), quote=True)}" />'
page = re.sub(r'\s*<meta name="nlu-lab-hub"[^>]*>', '', page)
open(index, 'w', encoding='utf-8').write(page.replace('</head>', f'  {meta}\n</head>', 1))
PY
echo "bundled models: $(python3 -c 'import json,sys; print(", ".join(p["repo"] + ":" + p["dtype"] for p in json.load(open(sys.argv[1]))))' "$bundle/packs.json") ($(du -sh "$staging/models" | cut -f1))"
