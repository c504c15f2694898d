#!/usr/bin/env bash
# Installs countersign as a hardened systemd service (docs/install.md):
#   - the application (package.json, package-lock.json, src/, node_modules/ without dev
#     dependencies) under PREFIX (default /opt/countersign), owned by root, read-only to the service;
#   - a system account "countersign";
#   - /etc/countersign (settings root's, keys/ policies/ trust-root/ the service's), starter
#     countersign.yaml unless one exists; /var/lib/countersign for the audit database and key;
#   - /usr/local/bin/countersign (the CLI) and, with --with-cosign-shim, /usr/local/bin/cosign
#     (countersign-cosign, the drop-in for Mercure's processor);
#   - /etc/systemd/system/countersign.service, enabled and started.
# Nothing is downloaded: run it from a checkout (or release tree) that already has node_modules/.
#
# usage: scripts/install-systemd.sh [--dry-run] [--prefix DIR] [--node PATH] [--source DIR]
#                                   [--with-cosign-shim] [--no-start]
#   --dry-run   print every step, change nothing (checks that only read still run)
set -euo pipefail

PREFIX=/opt/countersign
SOURCE=$(cd "$(dirname "$0")/.." && pwd)
NODE=
DRY_RUN=0
WITH_SHIM=0
START=1
SERVICE_USER=countersign
CONFIG_DIR=/etc/countersign
STATE_DIR=/var/lib/countersign
UNIT_FILE=/etc/systemd/system/countersign.service
BIN_DIR=/usr/local/bin

die() { echo "install-systemd: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
    --node) NODE=${2:?--node needs a path}; shift ;;
    --source) SOURCE=${2:?--source needs a directory}; shift ;;
    --with-cosign-shim) WITH_SHIM=1 ;;
    --no-start) START=0 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

case "$PREFIX" in /*) ;; *) die "--prefix must be absolute" ;; esac
SOURCE=$(cd "$SOURCE" && pwd)
DEPLOY=$SOURCE/deploy

# Runs a command, or in a dry run only shows it.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

# Writes stdin to a file with owner and mode, or in a dry run shows it.
write_file() { # path owner:group mode
  if [ "$DRY_RUN" = 1 ]; then
    printf '+ write %s (%s, %s):\n' "$1" "$2" "$3"
    sed 's/^/|   /'
  else
    local tmp
    tmp=$(mktemp "$(dirname "$1")/.install.XXXXXX")
    cat >"$tmp"
    chown "$2" "$tmp"
    chmod "$3" "$tmp"
    mv -f "$tmp" "$1"
  fi
}

# --- checks (read only) ----------------------------------------------------------------------
[ "$DRY_RUN" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (or try --dry-run)"
for f in package.json package-lock.json src/cli/main.ts src/shim/main.ts; do
  [ -e "$SOURCE/$f" ] || die "$SOURCE/$f missing: --source must be a countersign checkout or release tree"
done
[ -d "$SOURCE/node_modules" ] || die "$SOURCE/node_modules missing: run npm ci there first (this script downloads nothing)"
[ -f "$DEPLOY/countersign.service" ] && [ -f "$DEPLOY/countersign.yaml" ] || die "$DEPLOY holds no unit and settings"
if [ -z "$NODE" ]; then NODE=$(command -v node || true); fi
[ -n "$NODE" ] && [ -x "$NODE" ] || die "no node found: pass --node /path/to/node (Node.js 24)"
case "$NODE" in /*) ;; *) die "--node must be an absolute path" ;; esac
# Type stripping (running src/*.ts) needs Node >= 22.18; the project supports >= 22.22 and targets 24.
"$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>=24||(a===22&&b>=22)||(a===23&&b>=6)?0:1)' \
  || die "$NODE is $("$NODE" --version): Node.js 24 (or >= 22.22) is needed"
if [ "$WITH_SHIM" = 1 ] && [ -e "$BIN_DIR/cosign" ] && ! grep -q countersign "$BIN_DIR/cosign" 2>/dev/null; then
  die "$BIN_DIR/cosign exists and is not countersign-cosign: move it away first"
fi
NPM=$(dirname "$NODE")/npm
[ -x "$NPM" ] || NPM=$(command -v npm || true)

echo "install-systemd: installing countersign from $SOURCE into $PREFIX with $NODE ($("$NODE" --version))"
[ "$DRY_RUN" = 1 ] && echo "install-systemd: dry run, nothing is changed"

# --- account ---------------------------------------------------------------------------------
if id "$SERVICE_USER" >/dev/null 2>&1; then
  echo "install-systemd: account $SERVICE_USER exists"
else
  run useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "countersign appliance" "$SERVICE_USER"
fi

# --- application -----------------------------------------------------------------------------
STAGE=$PREFIX.new
run rm -rf "$STAGE"
run install -d -o root -g root -m 0755 "$STAGE"
run cp -a "$SOURCE/package.json" "$SOURCE/package-lock.json" "$SOURCE/src" "$SOURCE/node_modules" "$STAGE/"
if [ -d "$SOURCE/docs" ]; then run cp -a "$SOURCE/docs" "$STAGE/"; fi
if [ -n "$NPM" ]; then
  # Removes dev dependencies from the copy; --offline: never reaches for a registry.
  run env PATH="$(dirname "$NODE"):$PATH" "$NPM" prune --prefix "$STAGE" --omit=dev --offline --ignore-scripts \
    --no-audit --no-fund
else
  echo "install-systemd: npm not found: node_modules is installed as is (dev dependencies included)"
fi
run chown -R root:root "$STAGE"
run chmod -R go-w "$STAGE"
run rm -rf "$PREFIX.old"
if [ -e "$PREFIX" ]; then run mv "$PREFIX" "$PREFIX.old"; fi
run mv "$STAGE" "$PREFIX"
run rm -rf "$PREFIX.old"

# --- configuration and state -----------------------------------------------------------------
run install -d -o root -g "$SERVICE_USER" -m 0750 "$CONFIG_DIR"
for d in keys policies trust-root; do
  run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0750 "$CONFIG_DIR/$d"
done
if [ -e "$CONFIG_DIR/countersign.yaml" ]; then
  echo "install-systemd: keeping $CONFIG_DIR/countersign.yaml"
else
  write_file "$CONFIG_DIR/countersign.yaml" "root:$SERVICE_USER" 0640 <"$DEPLOY/countersign.yaml"
fi
run install -d -o "$SERVICE_USER" -g "$SERVICE_USER" -m 0700 "$STATE_DIR"

# --- commands --------------------------------------------------------------------------------
printf '#!/bin/sh\n# countersign CLI (scripts/install-systemd.sh)\nexec %s %s/src/cli/main.ts "$@"\n' "$NODE" "$PREFIX" |
  write_file "$BIN_DIR/countersign" root:root 0755
if [ "$WITH_SHIM" = 1 ]; then
  printf '#!/bin/sh\n# countersign-cosign: cosign verify answered by the countersign appliance\nexec %s %s/src/shim/main.ts "$@"\n' \
    "$NODE" "$PREFIX" | write_file "$BIN_DIR/cosign" root:root 0755
fi

# --- unit ------------------------------------------------------------------------------------
sed -e "s|@NODE@|$NODE|g" -e "s|@PREFIX@|$PREFIX|g" "$DEPLOY/countersign.service" |
  write_file "$UNIT_FILE" root:root 0644
run systemctl daemon-reload
if [ "$START" = 1 ]; then
  run systemctl enable --now countersign.service
else
  run systemctl enable countersign.service
fi

cat <<NEXT
install-systemd: done. Next:
  sudo -u $SERVICE_USER countersign token create --config $CONFIG_DIR --name mercure --role verifier
  systemctl status countersign; journalctl -u countersign
  (docs/install.md: first start, keys, trust roots and policies)
NEXT
