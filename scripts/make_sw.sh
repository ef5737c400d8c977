#!/usr/bin/env bash
# Trunk post_build hook: writes sw.js (the offline app shell, from web/sw.js) into the staging folder with the list
# of this build's files and a version that is the hash of their contents. A bundled model mirror (models/) is left
# out: weights are cached in IndexedDB by the app, not by the service worker.
set -euo pipefail
staging=${TRUNK_STAGING_DIR:?run by Trunk as a post_build hook}
template="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/web/sw.js"
cd "$staging"
files=$(find . -type f ! -name sw.js ! -path './models/*' | sed 's|^\./||' | LC_ALL=C sort)
version=$(printf '%s\n' "$files" | xargs -d '\n' sha256sum | sha256sum | cut -c1-16)
assets=$( { echo './'; printf '%s\n' "$files" | sed 's|^|./|'; } | sed 's/.*/"&"/' | paste -sd, )
sed -e "s|__VERSION__|$version|" -e "s|__ASSETS__|[$assets]|" "$template" > sw.js
echo "sw.js: $(printf '%s\n' "$files" | wc -l) files, version $version"
