#!/usr/bin/env bash
# Worker memory while a student tries MiniLM, bert-base, DistilBERT and CLIP ViT-B/32 in turn in the release app
# (headless Chromium, loopback hub, synthetic weights of the real sizes). Prints figures; not part of the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
bash scripts/fetch_models.sh >/dev/null
[ -f dist/index.html ] || bash scripts/build.sh
CACHE=${NLU_LAB_CACHE:-$PWD/.cache}
MINILM=$CACHE/models/all-MiniLM-L6-v2
BERT=$CACHE/models/bert-base-synthetic  # the same files as scripts/bench.sh
DISTIL=$CACHE/models/distilbert-synthetic
CLIP=$CACHE/models/clip-b32-full-synthetic
# The test profile's nlu-lab-dev (scripts/test.sh builds it): writing the files needs no release build.
dev() { cargo run --quiet --features bench --bin nlu-lab-dev -- "$@"; }
[ -s "$CLIP/model.safetensors" ] || dev synth-clip --fixture tests/fixtures/clip/tiny-clip-b32 --out "$CLIP" --full-depth
[ -s "$BERT/model.safetensors" ] || dev synth-bert --tokenizer "$MINILM/tokenizer.json" --out "$BERT"
if [ ! -s "$DISTIL/model.safetensors" ]; then
  # distilbert-base-uncased's shape (its config.json's fields that the model reads).
  config=$(mktemp)
  echo '{"model_type":"distilbert","vocab_size":30522,"dim":768,"n_layers":6,"n_heads":12,"hidden_dim":3072,
"activation":"gelu","max_position_embeddings":512,"sinusoidal_pos_embds":false,"pad_token_id":0}' > "$config"
  dev synth-bert --config "$config" --tokenizer "$MINILM/tokenizer.json" --out "$DISTIL"
  rm -f "$config"
fi
node tests/e2e/bench-memory.mjs "$BERT" "$DISTIL" "$CLIP"
