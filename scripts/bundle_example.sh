#!/usr/bin/env bash
# Trunk post_build step (after bundle_models.sh, before make_sw.sh), active only when NLU_LAB_CLIP_EXAMPLE names a
# model (scripts/build.sh --clip-example REPO sets it, after scripts/clip_example.sh computed the example): copies
# the CLIP lab's first-visit example into the site's examples/ and announces it in index.html with
# <meta name="nlu-lab-clip-example" data-example="{…}"> (engine::clip_example's JSON). A site built without it has
# no such tag, so the app never asks for an example that is not there.
set -euo pipefail
[ -n "${NLU_LAB_CLIP_EXAMPLE:-}" ] || exit 0
staging=${TRUNK_STAGING_DIR:?run by Trunk as a post_build hook (or with TRUNK_STAGING_DIR set)}
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
example="${NLU_LAB_CACHE:-$repo_root/.cache}/clip-example"
if [ ! -s "$example/clip-example.json" ]; then
  echo "bundle_example.sh: $example/clip-example.json is missing: run scripts/clip_example.sh $NLU_LAB_CLIP_EXAMPLE" >&2
  exit 1
fi
rm -rf "$staging/examples"
mkdir -p "$staging/examples"
python3 - "$staging" "$example" <<'PY'
import html, json, os, re, shutil, sys
staging, example = sys.argv[1:]
data = json.load(open(os.path.join(example, 'clip-example.json')))
shutil.copy(os.path.join(example, data['image']), os.path.join(staging, 'examples', data['image']))
index = os.path.join(staging, 'index.html')
page = open(index, encoding='utf-8').read()
meta = f'<meta name="nlu-lab-clip-example" data-example="{html.escape(json.dumps(data, separators=(",", ":")), quote=True)}" />'
page = re.sub(r'\s*<meta name="nlu-lab-clip-example"[^>]*>', '', page)
open(index, 'w', encoding='utf-8').write(page.replace('</head>', f'  {meta}\n</head>', 1))
print(f"clip example: {data['repo']} on examples/{data['image']}, {', '.join(f'{c}: {p:.3f}' for c, p in zip(data['captions'], data['probs']))}")
PY
