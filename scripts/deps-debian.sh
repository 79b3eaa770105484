#!/usr/bin/env bash
# Debian packages vxmesh needs to run (iproute2, iptables for ebtables-nft, nftables,
# wireguard-tools and wireguard-go for encryption) and that its demo, tests and benchmark use
# (ebtables for the legacy binaries the tests put first in PATH, ping, iperf3, tcpdump,
# systemd-analyze, ansible). Run as root.
# `iptables` is what provides ebtables-nft: with `ebtables` alone, a kernel without legacy
# xtables ("The kernel doesn't support the ebtables 'filter' table") gets no loop prevention,
# and vxmesh then attaches no port.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(iproute2 iptables ebtables nftables iputils-ping iperf3 procps systemd ansible ansible-lint)
# The tests' Router Advertisement sender (a container's RAs must configure no mesh host).
pkgs+=(radvd)
# Encryption (mesh.encryption: wireguard): wg, and wireguard-go for kernels without the module
# (the tests run it); tcpdump for the tests' captures of the underlay.
pkgs+=(wireguard-tools wireguard-go tcpdump)
# control: evpn: FRR's zebra, bgpd and vtysh (the EVPN tests run one FRR per namespace).
# vxmesh applies its lines with vtysh, not frr-reload.py, so frr-pythontools is not needed.
pkgs+=(frr)
# npm run package (dpkg-deb, dpkg-shlibdeps, strip) and its checks (lintian; man for systemd-analyze).
pkgs+=(dpkg-dev lintian binutils xz-utils man-db)
# Node.js 20 or newer (Debian 13 ships 20); older Debians need it from elsewhere.
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  pkgs+=(nodejs npm)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
node -e 'if (+process.versions.node.split(".")[0] < 20) { console.error("vxmesh needs Node.js >= 20, found " + process.version); process.exit(1) }'
