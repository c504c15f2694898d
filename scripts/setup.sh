#!/usr/bin/env bash
# One-step setup: Node.js 24 (fetched into .tools/node when the host's is older), optionally the
# integration-test tools (registry, cosign, skopeo), then the locked npm dependencies.
# Usage: bash scripts/setup.sh [--with-test-tools]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

with_tools=false
for arg in "$@"; do
  case $arg in
    --with-test-tools) with_tools=true ;;
    -h | --help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

echo "--- Node.js"
eval "$(bash scripts/provision-node.sh --env)"
echo "node $(node --version) at $(command -v node), npm $(npm --version)"

if [ "$with_tools" = true ]; then
  echo "--- test tools"
  bash scripts/install-test-tools.sh
fi

echo "--- npm ci"
npm ci --no-audit --no-fund
echo "setup done: 'npm start' runs the server$([ "$with_tools" = true ] && echo ", 'npm test' the tests")"
