#!/usr/bin/env bash
# Azurite (npm), the Azure Blob peer of the off-site store tests, installed under the project's
# own .peers/ (never globally). The tests start it on a loopback port of their own.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.peers/azurite
if [ -x "$dir/node_modules/.bin/azurite-blob" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-azurite: npm is needed (apt-get install -y npm)" >&2; exit 1; }
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error azurite@3 >/dev/null
test -x "$dir/node_modules/.bin/azurite-blob"
