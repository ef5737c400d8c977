#!/usr/bin/env bash
# Build the release site and serve it on http://127.0.0.1:8080 (PORT=... to change).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
exec node scripts/static-server.mjs dist --port "${PORT:-8080}"
