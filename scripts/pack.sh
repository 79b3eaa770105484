#!/usr/bin/env bash
# Make the release tarball scripts/install.sh installs from:
#   scripts/pack.sh [OUTDIR]   ->  OUTDIR/vxmesh-<version>.tgz  (default OUTDIR: .)
# Layout as `npm pack` (package/...), with the built dist/ (run `npm run build` first),
# the unit, the sample config, the Ansible role, the docs and the install script.
# Prints the tarball's path.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-.}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$here/dist/cli/main.js" ] || { echo "pack.sh: no dist/: run npm install && npm run build first" >&2; exit 1; }
version=$(node -p "require('$here/package.json').version")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/package"
for item in package.json package-lock.json README.md LICENSE dist systemd etc docs scripts; do
  [ -e "$here/$item" ] && cp -a "$here/$item" "$tmp/package/"
done
rm -rf "$tmp/package/docs/bench"
tar -czf "$out/vxmesh-$version.tgz" -C "$tmp" --owner=0 --group=0 package
echo "$out/vxmesh-$version.tgz"
