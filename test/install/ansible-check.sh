#!/usr/bin/env bash
# CI check of the Ansible role (etc/ansible): first `ansible-playbook --check` on fresh hosts
# (must pass and write nothing), then runs it for real over a local connection, every host into
# its own temporary root (the role unpacks the .deb there instead of apt), then checks what it
# wrote: the package's files, the same peers.yaml on every host (and exactly the expected one),
# each host's own drop-in, the packaged vxmesh accepting it, nothing on the host still on
# vxlansetup.sh, a second run that changes nothing, the doctor task (in a network namespace
# where one host's underlay exists: it passes there and stops the play where it does not),
# nothing installed with npm, and ansible-lint. Installs nothing itself: needs
# ansible-playbook, ansible-lint, dpkg-deb and the package (npm run package). Writes only under
# a temporary directory and into a network namespace of its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

fail() { echo "ansible-check: FAIL: $*" >&2; exit 1; }
for tool in ansible-playbook ansible-lint dpkg-deb; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: apt-get install -y ansible ansible-lint dpkg)"
done
debs=(build/vxmesh_*.deb)
[ -f "${debs[0]}" ] && [ "${#debs[@]}" = 1 ] || fail "expected one build/vxmesh_<version>_<arch>.deb: run npm run package first"
deb="$repo/${debs[0]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The head of every inventory here: the group "vxmesh", reached over a local connection, with
# the package built here and the service left alone.
inventory_head() {
  cat <<HEAD
all:
  children:
    vxmesh:
      vars:
        ansible_connection: local
        ansible_python_interpreter: $(command -v python3)
        ansible_become: false
        vxmesh_manage_service: false
        vxmesh_package: $deb
HEAD
}

# A mesh of three vxmesh hosts and one still on the script, all "local".
{ inventory_head; cat <<INV; } > "$work/inventory.yml"
        # The hosts here are stand-ins (their addresses are not on this machine): doctor would
        # rightly report the missing underlay. The doctor step is tried below, in a namespace.
        vxmesh_run_doctor: false
        vxmesh_mesh: { mtu: 1400, port: 4789, loop_prevention: ebtables }
      hosts:
        lxd2: { vxmesh_id: 2, vxmesh_address: 198.51.100.20, vxmesh_root: $work/hosts/lxd2 }
        lxd1: { vxmesh_id: 1, vxmesh_address: 198.51.100.10, vxmesh_root: $work/hosts/lxd1 }
        lxd3: { vxmesh_id: 3, vxmesh_address: "2001:db8::3", vxmesh_dev: bond0, vxmesh_name: lxd3-v6, vxmesh_root: $work/hosts/lxd3 }
        old4:
          vxmesh_id: 4
          vxmesh_address: 198.51.100.40
          vxmesh_legacy_remotes: [198.51.100.10, 198.51.100.20]
          vxmesh_root: $work/hosts/old4
INV

export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_REMOTE_TEMP="$work/ansible-tmp"
echo "ansible-check: --check on fresh hosts"
ansible-playbook --check -i "$work/inventory.yml" etc/ansible/site.yml > "$work/check.log" 2>&1 || { cat "$work/check.log"; fail "ansible-playbook --check failed on fresh hosts"; }
[ ! -e "$work/hosts" ] || { find "$work/hosts" | head; fail "--check wrote files"; }
grep -qE '^lxd1 .*failed=0' "$work/check.log" || { cat "$work/check.log"; fail "--check: no recap for lxd1"; }

echo "ansible-check: first run"
ansible-playbook -i "$work/inventory.yml" etc/ansible/site.yml > "$work/run1.log" 2>&1 || { cat "$work/run1.log"; fail "ansible-playbook failed"; }

expected='# vxmesh peers file, rendered by Ansible (role vxmesh) from the inventory group
# "vxmesh". The same file on every server: edit the inventory, not this file.
mesh:
  loop_prevention: "ebtables"
  mtu: 1400
  port: 4789
peers:
  - name: lxd1
    id: 1
    address: "198.51.100.10"
  - name: lxd2
    id: 2
    address: "198.51.100.20"
  - name: lxd3-v6
    id: 3
    address: "2001:db8::3"
    dev: bond0
  - name: old4
    id: 4
    address: "198.51.100.40"
    legacy: { remotes: ["198.51.100.10", "198.51.100.20"] }'

for h in lxd1 lxd2 lxd3; do
  r="$work/hosts/$h"
  [ -f "$r/etc/vxmesh/peers.yaml" ] || fail "$h: no peers.yaml"
  [ "$(cat "$r/etc/vxmesh/peers.yaml")" = "$expected" ] || { diff <(echo "$expected") "$r/etc/vxmesh/peers.yaml" >&2 || true; fail "$h: peers.yaml is not the expected one"; }
  name=$h; [ $h = lxd3 ] && name=lxd3-v6
  grep -qx "node: $name" "$r/etc/vxmesh/peers.d/00-node.yaml" || fail "$h: peers.d/00-node.yaml does not say node: $name"
  [ "$(ls "$r/etc/vxmesh/peers.d" | grep -c '\.yaml$')" = 1 ] || fail "$h: peers.d should hold exactly one drop-in"
  [ -x "$r/usr/bin/vxmesh" ] || fail "$h: the package's /usr/bin/vxmesh is not under $r"
  [ -f "$r/usr/lib/systemd/system/vxmesh.service" ] || fail "$h: the package's unit is not under $r"
  [ -f "$r/var/cache/vxmesh/$(basename "$deb")" ] || fail "$h: the package was not copied to the host"
  [ ! -e "$r/opt" ] && [ ! -e "$r/usr/local" ] || fail "$h: something besides the package was installed"
  # The packaged executable, with no node on PATH.
  env -i PATH=/nonexistent "$r/usr/bin/vxmesh" check "$r/etc/vxmesh" >/dev/null || fail "$h: vxmesh check rejects the rendered config"
done
sums=$(sha256sum "$work"/hosts/lxd{1,2,3}/etc/vxmesh/peers.yaml | cut -d' ' -f1 | sort -u | wc -l)
[ "$sums" = 1 ] || fail "peers.yaml differs between hosts"
[ ! -e "$work/hosts/old4" ] || fail "old4 (still on vxlansetup.sh) was touched"
echo "ansible-check: identical peers.yaml on lxd1 lxd2 lxd3, the right drop-in on each, old4 untouched"

echo "ansible-check: second run (must change nothing)"
ansible-playbook -i "$work/inventory.yml" etc/ansible/site.yml > "$work/run2.log" 2>&1 || { cat "$work/run2.log"; fail "second run failed"; }
grep -E '^(lxd1|lxd2|lxd3) ' "$work/run2.log" | grep -qv 'changed=0' && { cat "$work/run2.log"; fail "second run changed something"; }

echo "ansible-check: a change in the inventory reaches every host"
sed -i 's/mtu: 1400/mtu: 1450/' "$work/inventory.yml"
ansible-playbook -i "$work/inventory.yml" etc/ansible/site.yml > "$work/run3.log" 2>&1 || { cat "$work/run3.log"; fail "third run failed"; }
for h in lxd1 lxd2 lxd3; do grep -qx '  mtu: 1450' "$work/hosts/$h/etc/vxmesh/peers.yaml" || fail "$h did not get the new mtu"; done
grep -q 'RUNNING HANDLER \[vxmesh : Reload vxmesh\]' "$work/run3.log" || fail "the config change did not notify the reload handler"

echo "ansible-check: the role runs vxmesh doctor, in a namespace where d1's underlay exists"
# d1's address is on eth0 there, d2's is not: the play passes on d1 and stops at doctor on d2.
ns=vxtans$$
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"' EXIT
ip netns add "$ns"
ip -n "$ns" link add eth0 type veth peer name eth1
ip -n "$ns" addr add 198.18.0.1/24 dev eth0
for dev in lo eth0 eth1; do ip -n "$ns" link set "$dev" up; done
{ inventory_head; cat <<INV; } > "$work/doctor.yml"
        vxmesh_run_doctor: true
      hosts:
        d1: { vxmesh_id: 1, vxmesh_address: 198.18.0.1, vxmesh_root: $work/doctor/d1 }
        d2: { vxmesh_id: 2, vxmesh_address: 198.18.0.2, vxmesh_root: $work/doctor/d2 }
INV
ip netns exec "$ns" ansible-playbook -i "$work/doctor.yml" --limit d1 etc/ansible/site.yml > "$work/doctor1.log" 2>&1 || { cat "$work/doctor1.log"; fail "the play failed on d1, whose underlay is there"; }
grep -q 'TASK \[vxmesh : Check the host.s prerequisites (vxmesh doctor)\]' "$work/doctor1.log" || { cat "$work/doctor1.log"; fail "the doctor task did not run on d1"; }
grep -qE '^d1 .*failed=0' "$work/doctor1.log" || { cat "$work/doctor1.log"; fail "d1: no clean recap"; }
if ip netns exec "$ns" ansible-playbook -i "$work/doctor.yml" --limit d2 etc/ansible/site.yml > "$work/doctor2.log" 2>&1; then cat "$work/doctor2.log"; fail "the play passed on d2, whose underlay address is missing"; fi
grep -A30 'TASK \[vxmesh : Check the host.s prerequisites (vxmesh doctor)\]' "$work/doctor2.log" | grep -q 'fatal: \[d2\]' || { cat "$work/doctor2.log"; fail "d2 did not stop at the doctor task"; }
grep -q 'problem *underlay' "$work/doctor2.log" || { cat "$work/doctor2.log"; fail "d2: doctor's underlay problem is not in the output"; }
echo "ansible-check: doctor passed on d1 and stopped the play on d2 (underlay address missing)"

echo "ansible-check: encryption: each host makes its key, the peers file carries every public key"
{ inventory_head; cat <<INV; } > "$work/encrypted.yml"
        vxmesh_run_doctor: false
        vxmesh_mesh: { mtu: 1390, encryption: wireguard }
      hosts:
        e1: { vxmesh_id: 1, vxmesh_address: 198.51.100.11, vxmesh_root: $work/enc/e1 }
        e2: { vxmesh_id: 2, vxmesh_address: 198.51.100.12, vxmesh_root: $work/enc/e2 }
        e3: { vxmesh_id: 3, vxmesh_address: 198.51.100.13, vxmesh_root: $work/enc/e3 }
INV
ansible-playbook -i "$work/encrypted.yml" etc/ansible/site.yml > "$work/enc1.log" 2>&1 || { cat "$work/enc1.log"; fail "the encrypted play failed"; }
for h in e1 e2 e3; do
  r="$work/enc/$h"
  [ "$(stat -c %a "$r/var/lib/vxmesh/wireguard.key")" = 600 ] || fail "$h: wireguard.key is not 0600"
  pub=$(env -i PATH=/nonexistent "$r/usr/bin/vxmesh" pubkey --state-dir "$r/var/lib/vxmesh" 2>/dev/null) || fail "$h: vxmesh pubkey failed"
  for o in e1 e2 e3; do
    grep -qxF "    public_key: \"$pub\"" "$work/enc/$o/etc/vxmesh/peers.yaml" || { cat "$work/enc/$o/etc/vxmesh/peers.yaml"; fail "$o's peers.yaml lacks $h's public key"; }
  done
  env -i PATH=/nonexistent "$r/usr/bin/vxmesh" check "$r/etc/vxmesh" >/dev/null || fail "$h: vxmesh check rejects the encrypted config"
done
[ "$(sha256sum "$work"/enc/e{1,2,3}/etc/vxmesh/peers.yaml | cut -d' ' -f1 | sort -u | wc -l)" = 1 ] || fail "encrypted peers.yaml differs between hosts"
keys_before=$(sha256sum "$work"/enc/e{1,2,3}/var/lib/vxmesh/wireguard.key)
ansible-playbook -i "$work/encrypted.yml" etc/ansible/site.yml > "$work/enc2.log" 2>&1 || { cat "$work/enc2.log"; fail "the second encrypted run failed"; }
grep -E '^(e1|e2|e3) ' "$work/enc2.log" | grep -qv 'changed=0' && { cat "$work/enc2.log"; fail "the second encrypted run changed something"; }
[ "$(sha256sum "$work"/enc/e{1,2,3}/var/lib/vxmesh/wireguard.key)" = "$keys_before" ] || fail "a second run replaced a key"
echo "ansible-check: encrypted: a key per host (0600, kept by a second run), every public key in the one peers file"

echo "ansible-check: nothing installed with npm"
if grep -rnwE 'npm|nodejs|/usr/bin/node' etc/ansible/roles/vxmesh/tasks etc/ansible/roles/vxmesh/handlers; then fail "the role's tasks use npm or node"; fi

echo "ansible-check: ansible-lint"
(cd etc/ansible && ansible-lint --offline -q) || fail "ansible-lint found problems"
echo "ansible-check: ok"
