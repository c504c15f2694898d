#!/usr/bin/env bash
# Installs the real tools the integration tests run against, idempotently:
#   - docker-registry (CNCF distribution), htpasswd (bcrypt for registry basic auth) and poppler-utils
#     (pdftoppm, pdfinfo, pdftotext for the audit report tests) and chromium (the headless browser
#     the auditor web page's end-to-end test drives through playwright-core) via apt-get;
#   - cosign and skopeo from Debian trixie, unpacked into .tools/ of this project. Bookworm has no
#     cosign, and its skopeo 1.9 has sigstore signing compiled out. Trixie's skopeo needs trixie's
#     glibc, so its wrapper runs it through trixie's own dynamic loader. The host's apt state and
#     dpkg database are never touched for these: a private apt state under .tools/apt is used.
# Usage: bash scripts/install-test-tools.sh   (as root, or with sudo available for apt-get)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tools=$here/.tools
say() { printf '\n--- %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# ---- 1. host packages (bookworm or later)
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils) # renders audit report PDFs in tests
[ -x /usr/bin/chromium ] || need+=(chromium)                    # test/e2e/auditor-ui.test.ts
if [ ${#need[@]} -gt 0 ]; then
  say "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# ---- 2. trixie cosign + skopeo, private apt state
trixie_pkgs=(cosign skopeo libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0)
root=$tools/trixie # unpacked file trees: root/<package>/...
if [ ! -x "$root/cosign/usr/bin/cosign" ] || [ ! -x "$root/skopeo/usr/bin/skopeo" ] ||
  [ ! -e "$root/libc6/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ]; then
  say "fetching Debian trixie ${trixie_pkgs[*]} into .tools/trixie"
  apt_dir=$tools/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$tools/debs"
  # The host's own Debian mirror (one-line or deb822 sources), with trixie as the suite.
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v '^ *#' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true)
  uri=${uri:-http://deb.debian.org/debian}
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${uri%/} trixie main" >"$apt_dir/sources.list"
  apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null
    -o APT::Sandbox::User=root
  )
  apt-get "${apt_opts[@]}" update -qq
  rm -f "$tools"/debs/*.deb
  (cd "$tools/debs" && apt-get "${apt_opts[@]}" download -qq "${trixie_pkgs[@]}")
  rm -rf "$root"
  for p in "${trixie_pkgs[@]}"; do
    deb=$(ls "$tools"/debs/"${p}"_*.deb)
    mkdir -p "$root/$p"
    dpkg-deb -x "$deb" "$root/$p"
    echo "$p $(dpkg-deb -f "$deb" Version)" >>"$root/VERSIONS"
  done
  # One library directory for skopeo's loader: trixie glibc and the libraries skopeo links.
  lib=$root/lib
  mkdir -p "$lib"
  for p in libc6 libgpgme11t64 libassuan9 libgpg-error0 libsqlite3-0; do
    cp -a "$root/$p"/usr/lib/x86_64-linux-gnu/. "$lib"/
  done
fi

# ---- 3. wrappers (paths computed at run time, relative to the wrapper's own location)
mkdir -p "$tools/bin"
cat >"$tools/bin/cosign" <<'EOF'
#!/bin/sh
# Debian trixie cosign, unpacked by scripts/install-test-tools.sh (static Go binary).
t=$(cd "$(dirname "$0")/.." && pwd)
exec "$t/trixie/cosign/usr/bin/cosign" "$@"
EOF
cat >"$tools/bin/skopeo" <<'EOF'
#!/bin/sh
# Debian trixie skopeo run through trixie's own glibc loader, so the host's glibc can be older.
t=$(cd "$(dirname "$0")/.." && pwd)
l=$t/trixie/lib
exec "$l/ld-linux-x86-64.so.2" --library-path "$l" "$t/trixie/skopeo/usr/bin/skopeo" "$@"
EOF
chmod +x "$tools/bin/cosign" "$tools/bin/skopeo"

say "versions"
docker-registry --version
echo "htpasswd $(command -v htpasswd)"
"$tools/bin/skopeo" --version
# Debian's cosign reports GitVersion "devel"; the package version is the useful one.
echo "cosign $(grep '^cosign ' "$root/VERSIONS" | cut -d' ' -f2) ($("$tools/bin/cosign" version 2>/dev/null | grep -E '^GoVersion' | tr -s ' '))"
echo "test tools ready in .tools/bin"
