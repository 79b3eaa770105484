#!/usr/bin/env bash
# Install (or upgrade, or remove) vxmesh on one server.
#
#   scripts/install.sh [--from DIR|TARBALL] [--root DIR] [--node PATH] [--no-start]
#   scripts/install.sh --uninstall [--root DIR]
#
# Installs, under ROOT (default /):
#   /opt/vxmesh/                      the program: package.json, dist/, node_modules/ (runtime
#                                     dependencies only), systemd/, etc/vxmesh/ samples, docs/
#   /usr/local/bin/vxmesh             symlink to /opt/vxmesh/dist/cli/main.js
#   /etc/systemd/system/vxmesh.service
#   /etc/vxmesh/peers.yaml            the sample, only when there is no peers.yaml yet
#   /etc/vxmesh/peers.d/              with 10-node.yaml.example
# An existing /etc/vxmesh is never changed. The state directory /var/lib/vxmesh is made
# by systemd (StateDirectory=) when the service starts.
#
# With ROOT=/ and systemd running, it then reloads systemd and:
#   - upgrade (service active): restarts the daemon, which adopts the running mesh: no outage;
#   - first install with a real peers.yaml: enables and starts the service;
#   - first install with the sample peers.yaml: enables it, and tells you to edit the file.
# --no-start skips all of that (and is implied for any other ROOT).
#
# --from: a source tree with a built dist/ (the repo after `npm install && npm run build`) or a
# tarball from scripts/pack.sh (or `npm pack`, layout package/...). Default: the tree this
# script is in. Runtime dependencies are installed with `npm ci --omit=dev` (npm install
# without a package-lock.json); extra npm flags (e.g. --offline) go in VXMESH_NPM_FLAGS.
set -euo pipefail

prog=$(basename "$0")
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*"; }

root=/
from=
node_bin=
start=yes
uninstall=no
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --from) from=${2:?--from needs a directory or tarball}; shift 2 ;;
    --from=*) from=${1#*=}; shift ;;
    --node) node_bin=${2:?--node needs a path}; shift 2 ;;
    --node=*) node_bin=${1#*=}; shift ;;
    --no-start) start=no; shift ;;
    --uninstall) uninstall=yes; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

root=${root%/}
[ -n "$root" ] && { mkdir -p "$root" && root=$(cd "$root" && pwd); }
[ "$root" = / ] && root=
[ -n "$root" ] && start=no
opt="$root/opt/vxmesh"
unit="$root/etc/systemd/system/vxmesh.service"
bin="$root/usr/local/bin/vxmesh"
etc="$root/etc/vxmesh"
systemd_up() { [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if [ "$uninstall" = yes ]; then
  if [ "$start" = yes ] && systemd_up; then
    systemctl disable --now vxmesh.service 2>/dev/null || true
  fi
  rm -rf "$opt" "$opt.new" "$opt.old"
  rm -f "$bin" "$unit"
  if [ "$start" = yes ] && systemd_up; then systemctl daemon-reload; fi
  say "removed $opt, $bin and $unit; kept $etc and the mesh as it is"
  say "(to remove the mesh too, run 'vxmesh stop' BEFORE uninstalling; delete $etc yourself)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Where the files come from.
if [ -z "$from" ]; then
  from=$(cd "$(dirname "$0")/.." && pwd)
fi
if [ -f "$from" ]; then
  tar -xzf "$from" -C "$tmp" || die "cannot unpack $from"
  src="$tmp/package"
  [ -d "$src" ] || die "$from has no package/ directory (make it with scripts/pack.sh)"
else
  [ -d "$from" ] || die "$from is neither a directory nor a file"
  src=$(cd "$from" && pwd)
fi
[ -f "$src/package.json" ] || die "$src has no package.json"
[ -f "$src/dist/cli/main.js" ] || die "$src has no dist/cli/main.js: build it first (npm install && npm run build)"
[ -f "$src/systemd/vxmesh.service" ] || die "$src has no systemd/vxmesh.service"

if [ -z "$node_bin" ]; then
  node_bin=$(command -v node || true)
  [ -n "$node_bin" ] || die "node not found: install Node.js 20 or newer (Debian: apt-get install nodejs), or give --node PATH"
  node_bin=$(readlink -f "$node_bin")
fi
if [ -z "$root" ]; then
  [ -x "$node_bin" ] || die "$node_bin is not executable"
  "$node_bin" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || die "vxmesh needs Node.js >= 20 ($node_bin is $("$node_bin" --version))"
  for tool in ip bridge nft; do
    command -v "$tool" >/dev/null || say "warning: $tool not found (Debian: apt-get install iproute2 nftables)"
  done
  # The daemon picks ebtables-nft, or the legacy ebtables where the kernel still has legacy
  # xtables; newer kernels have only nf_tables, so without ebtables-nft no port joins the bridge.
  command -v ebtables-nft >/dev/null || say "warning: ebtables-nft not found: install it (Debian/Ubuntu: apt-get install iptables), or set 'loop_prevention: isolated' in the mesh config; 'vxmesh doctor' tells whether this host needs it"
fi

# Stage the program next to the old one, then swap: the running daemon keeps its loaded
# code, and /opt/vxmesh is never half-written.
stage="$opt.new"
rm -rf "$stage"
mkdir -p "$stage"
for item in package.json package-lock.json npm-shrinkwrap.json README.md LICENSE dist systemd docs; do
  [ -e "$src/$item" ] && cp -a "$src/$item" "$stage/"
done
mkdir -p "$stage/etc" "$stage/scripts"
cp -a "$src/etc/vxmesh" "$stage/etc/vxmesh"
cp -a "$src/scripts/install.sh" "$stage/scripts/install.sh"
rm -rf "$stage/docs/bench"
chmod 0755 "$stage/dist/cli/main.js"
say "installing runtime dependencies into $opt"
if [ -f "$stage/package-lock.json" ] || [ -f "$stage/npm-shrinkwrap.json" ]; then npm_cmd=ci; else npm_cmd=install; fi
npm_in_stage() {
  # shellcheck disable=SC2086
  (cd "$stage" && npm "$1" --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error ${VXMESH_NPM_FLAGS:-} >"$tmp/npm.log" 2>&1)
}
if ! npm_in_stage "$npm_cmd"; then
  if [ "$npm_cmd" = ci ]; then
    say "warning: npm ci failed (package-lock.json out of sync?); falling back to npm install"
    npm_in_stage install || { cat "$tmp/npm.log" >&2; die "npm install failed in $stage"; }
  else
    cat "$tmp/npm.log" >&2; die "npm install failed in $stage"
  fi
fi
"$node_bin" "$stage/dist/cli/main.js" --help >/dev/null 2>&1 || [ -n "$root" ] || die "the staged vxmesh does not run: $node_bin $stage/dist/cli/main.js --help"
if [ -d "$opt" ]; then
  rm -rf "$opt.old"
  mv "$opt" "$opt.old"
fi
mv "$stage" "$opt"
rm -rf "$opt.old"

mkdir -p "$(dirname "$bin")"
ln -sfn /opt/vxmesh/dist/cli/main.js "$bin"

# The unit, with its commands (ExecStart, ExecStartPost, ExecReload) run by this machine's
# node: the unit as shipped runs /usr/bin/vxmesh, the single executable of the Debian package.
mkdir -p "$(dirname "$unit")"
sed "s#^\(Exec[A-Za-z]*=\)/usr/bin/vxmesh #\1$node_bin --max-semi-space-size=1 /opt/vxmesh/dist/cli/main.js #" "$src/systemd/vxmesh.service" > "$unit.tmp"
chmod 0644 "$unit.tmp"
mv "$unit.tmp" "$unit"

# Configuration: created once, never overwritten.
sample=no
mkdir -p "$etc/peers.d"
chmod 0755 "$etc" "$etc/peers.d"
if [ ! -e "$etc/peers.yaml" ]; then
  install -m 0644 "$src/etc/vxmesh/peers.yaml" "$etc/peers.yaml"
  sample=yes
  say "wrote the sample $etc/peers.yaml: edit it before starting vxmesh"
fi
for f in "$src"/etc/vxmesh/peers.d/*.example; do
  [ -e "$f" ] && install -m 0644 "$f" "$etc/peers.d/$(basename "$f")"
done

say "installed vxmesh $("$node_bin" -p "require('$opt/package.json').version" 2>/dev/null || echo) into ${root:-/}"
if [ "$start" = no ] || ! systemd_up; then
  [ "$start" = yes ] && say "systemd is not running: start the daemon yourself (vxmesh daemon)"
  exit 0
fi
systemctl daemon-reload
if systemctl is-active --quiet vxmesh.service; then
  # Restarting the daemon does not touch the data plane: the new one adopts it.
  systemctl restart vxmesh.service
  say "upgraded: restarted vxmesh.service (the mesh stayed up)"
elif [ "$sample" = yes ]; then
  systemctl enable vxmesh.service
  say "enabled vxmesh.service; edit /etc/vxmesh/peers.yaml, check it with 'vxmesh check', then: systemctl start vxmesh"
else
  "$node_bin" "$opt/dist/cli/main.js" check "$etc" || die "fix /etc/vxmesh first, then: systemctl enable --now vxmesh"
  # Host prerequisites, each problem with its fix; the daemon runs anyway and heals once fixed.
  "$node_bin" "$opt/dist/cli/main.js" doctor --config "$etc" || say "warning: 'vxmesh doctor' found problems (above): the mesh stays degraded until they are fixed"
  systemctl enable --now vxmesh.service
  say "vxmesh.service enabled and started; see 'vxmesh status'"
fi
