import { describe, expect, it } from 'vitest';
import { PEERS, config } from '../helpers/config.js';
import { formatIssue, parseConfig, type LoadResult } from '../../src/config/load.js';
import { isMulticast } from '../../src/config/validate-mode.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';
import { computePlan, computeTeardown, isEmptyPlan, renderPlan } from '../../src/plan/plan.js';
import { emptyHost, link, phases } from '../helpers/kernel-state.js';
import { DEFAULT_SEGMENT, GATE_RULE, parseOwner } from '../../src/model/names.js';
import { parseDeviceFdb, parseMaddr } from '../../src/kernel/parse.js';
import { isOwnedDevice, ownerOf, type ActualState } from '../../src/model/state.js';
import { expectedRules } from '../../src/plan/ingress.js';
import type { Config } from '../../src/model/types.js';

const file = (text: string) => ({ path: '/etc/vxmesh/peers.yaml', text });

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}


function manyPeers(n: number): string {
  return Array.from({ length: n }, (_, k) => `  - { name: p${k + 1}, id: ${k + 1}, address: 198.18.${(k + 1) >> 8}.${(k + 1) & 255} }`).join('\n');
}

describe('mesh.mode config', () => {
  it('defaults to per-peer and takes flood-list and multicast with their settings', () => {
    expect(config(PEERS).mesh).toMatchObject({ mode: 'per-peer', device: 'vxlan0', vni: undefined });
    expect(config(`mesh: { mode: flood-list, vni: 42, device: vxmesh0 }\n${PEERS}`).mesh).toMatchObject({ mode: 'flood-list', vni: 42, device: 'vxmesh0' });
    expect(config(`mesh: { mode: multicast, vni: 42, group: 239.1.1.1, ttl: 8 }\n${PEERS}`).mesh).toMatchObject({ mode: 'multicast', group: '239.1.1.1', ttl: 8 });
  });

  it('says where vni is missing in flood-list and multicast mode', () => {
    expect(errors(parseConfig([file(`mesh:\n  mtu: 1450\n  mode: flood-list\n${PEERS}`)]))).toEqual([
      '/etc/vxmesh/peers.yaml:3:9: mesh.vni: is required in flood-list mode (the one VNI of the mesh, 1-16777215)',
    ]);
    expect(errors(parseConfig([file(`mesh: { mode: multicast, group: 239.1.1.1 }\n${PEERS}`)]))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:1:15: mesh\.vni: is required in multicast mode/);
  });

  it('refuses a VNI over 24 bits, a group that is not multicast, a missing group, and a device named like the bridge', () => {
    expect(errors(parseConfig([file(`mesh: { mode: flood-list, vni: 16777216 }\n${PEERS}`)]))).toEqual(['/etc/vxmesh/peers.yaml:1:32: mesh.vni: must fit 24 bits (at most 16777215)']);
    expect(errors(parseConfig([file(`mesh:\n  mode: multicast\n  vni: 5\n  group: 198.18.0.9\n${PEERS}`)]))).toEqual([
      '/etc/vxmesh/peers.yaml:4:10: mesh.group: 198.18.0.9 is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)',
    ]);
    expect(errors(parseConfig([file(`mesh: { mode: multicast, vni: 5 }\n${PEERS}`)]))[0]).toMatch(/mesh\.group: is required in multicast mode/);
    expect(errors(parseConfig([file(`mesh: { mode: multicast, vni: 5, group: not-an-ip }\n${PEERS}`)]))[0]).toMatch(/:1:41: mesh\.group: is not an IPv4 or IPv6 address/);
    expect(errors(parseConfig([file(`mesh: { mode: flood-list, vni: 5, device: vxbr0 }\n${PEERS}`)]))[0]).toMatch(/mesh\.device: "vxbr0" is also the bridge name/);
    expect(errors(parseConfig([file(`mesh: { mode: flood-list, vni: 5, ttl: 0 }\n${PEERS}`)]))[0]).toMatch(/mesh\.ttl/);
  });

  it('takes IPv6 groups, and refuses a group of another family than the peers', () => {
    expect(isMulticast('ff05::42')).toBe(true);
    expect(isMulticast('239.255.0.1')).toBe(true);
    expect(isMulticast('240.0.0.1')).toBe(false);
    expect(isMulticast('fe80::1')).toBe(false);
    expect(config(`mesh: { mode: multicast, vni: 5, group: "FF05::42" }\npeers:\n  - { name: a, id: 1, address: "2001:2::1" }\n  - { name: b, id: 2, address: "2001:2::2" }\n`).mesh.group).toBe('ff05::42');
    expect(errors(parseConfig([file(`mesh: { mode: multicast, vni: 5, group: "ff05::42" }\n${PEERS}`)]))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:3:32: peers\[0\]\.address: 198\.18\.0\.1 is IPv4 but mesh\.group ff05::42 is IPv6/);
  });

  it('refuses legacy peers in the one-device modes, and only warns about settings of another mode', () => {
    expect(errors(parseConfig([file(`mesh: { mode: flood-list, vni: 5 }\n${PEERS}  - { name: old, id: 4, address: 198.18.0.4, legacy: { remotes: [198.18.0.1] } }\n`)]))[0]).toMatch(/peers\[3\]\.legacy: vxlansetup\.sh servers make one device per remote/);
    const c = config(`mesh: { vni: 5, group: 239.1.1.1 }\n${PEERS}`);
    expect(c.warnings).toEqual([
      'mesh.group is used only in multicast mode; ignored in per-peer mode',
      'mesh.vni is used only in flood-list and multicast modes; per-peer mode gives each link a pair VNI from mesh.vni_base',
    ]);
  });

  it('warns from 500 peers in per-peer mode and refuses more than 1000 (a bridge takes 1024 ports); flood-list takes 2000', () => {
    expect(config(`mesh: { vni_base: 1000 }\npeers:\n${manyPeers(499)}\n`).warnings).toEqual([]);
    expect(config(`mesh: { vni_base: 1000 }\npeers:\n${manyPeers(500)}\n`).warnings[0]).toMatch(/^500 peers in per-peer mode: 499 devices and 499 loop-prevention port rules per host \(one per port\), and a hard limit of 1000 peers.*mode: flood-list/);
    const over = errors(parseConfig([file(`mesh:\n  vni_base: 1000\n  mode: per-peer\npeers:\n${manyPeers(1001)}\n`)]));
    expect(over).toEqual([
      '/etc/vxmesh/peers.yaml:3:9: mesh.mode: per-peer mode cannot take 1001 peers: it puts one bridge port per remote on the bridge, and a Linux bridge has at most 1024 ports (vxmesh stops at 1000 peers to leave ports for containers); use mode: flood-list',
    ]);
    // Without mode: the error points at the first peer over the limit.
    expect(errors(parseConfig([file(`mesh: { vni_base: 1000 }\npeers:\n${manyPeers(1001)}\n`)]))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:1003:5: peers\[1000\]: per-peer mode cannot take 1001 peers/);
    const big = config(`mesh: { mode: flood-list, vni: 42 }\npeers:\n${manyPeers(2000)}\n`);
    expect(big.peers.length).toBe(2000);
    expect(big.warnings).toEqual([]);
  });
});

// ---------------------------------------------------------------- planning

function desiredFor(cfg: Config) {
  const self = findSelf(cfg, undefined, new Map([['198.18.0.1', 'eth0']]));
  if (!self.ok) throw new Error(self.reason);
  // The bridge's probe address is the health tests' subject; these goldens are about the devices.
  return computeDesired({ ...cfg, mesh: { ...cfg.mesh, probe: { ...cfg.mesh.probe, enabled: false } } }, self.self, self.underlay);
}

const FLOOD = config(`mesh: { mode: flood-list, vni: 42 }\n${PEERS}`);
const MCAST = config(`mesh: { mode: multicast, vni: 43, group: 239.1.1.1, ttl: 4 }\n${PEERS}`);

/** The host after a flood-list or multicast mesh of `cfg` was applied, as observe() reads it. */
function convergedSingle(cfg: Config, flood: string[] = ['198.18.0.2', '198.18.0.3']): ActualState {
  const a = emptyHost();
  const d = desiredFor(cfg).segments[0]!.single;
  a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450, alias: 'vxmesh:bridge' }));
  a.links.set('vxlan0', link('vxlan0', {
    kind: 'vxlan', mtu: 1450, master: 'vxbr0', alias: `vxmesh:${d.mode}`, isolated: false,
    vxlan: { vni: d.vni, remote: undefined, local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: d.group, ttl: d.ttl ?? 0 },
    defaultDsts: d.mode === 'flood-list' ? [...flood] : [],
    ownDefaultDsts: d.mode === 'flood-list' ? [...flood] : [],
  }));
  a.ingress = { ...a.ingress, present: true, peers4: ['198.18.0.2', '198.18.0.3'], rules: expectedRules(4789, ['198.18.0.1', ...(d.group ? [d.group] : [])]) };
  return a;
}

describe('flood-list and multicast planning', () => {
  it('builds a flood-list mesh on an empty host: one learning device, one all-zero entry per remote, no loop prevention (golden)', () => {
    const plan = phases(computePlan(desiredFor(FLOOD), emptyHost()));
    const text = renderPlan(plan).split('\n');
    expect(text.slice(text.indexOf("ip -force -batch - <<'EOF'"))).toEqual([
      "ip -force -batch - <<'EOF'",
      'link add name vxbr0 type bridge',
      'link set dev vxbr0 alias vxmesh:bridge',
      'link set dev vxbr0 mtu 1450',
      'link set dev vxbr0 up',
      'link add name vxlan0 mtu 1450 type vxlan id 42 local 198.18.0.1 dev eth0 dstport 4789 learning',
      'link set dev vxlan0 alias vxmesh:flood-list',
      'link set dev vxlan0 addrgenmode none',
      'EOF',
      "bridge -force -batch - <<'EOF'",
      'fdb append 00:00:00:00:00:00 dev vxlan0 dst 198.18.0.2 via eth0',
      'fdb append 00:00:00:00:00:00 dev vxlan0 dst 198.18.0.3 via eth0',
      'EOF',
      "ip -force -batch - <<'EOF'",
      'link set dev vxlan0 master vxbr0',
      'link set dev vxlan0 up',
      'EOF',
    ]);
    expect(plan.chain).toBeUndefined();
    expect(plan.ebtables).toEqual([]);
    expect(plan.nft).toMatch(/elements = \{ 198\.18\.0\.2, 198\.18\.0\.3 \}/);
  });

  it('makes the multicast device with group, ttl and the underlay device, and no flood list', () => {
    const plan = phases(computePlan(desiredFor(MCAST), emptyHost()));
    expect(plan.pre).toContain('link add name vxlan0 mtu 1450 type vxlan id 43 group 239.1.1.1 ttl 4 local 198.18.0.1 dev eth0 dstport 4789 learning');
    expect(plan.fdb).toEqual([]);
    expect(plan.changes).toContain('create multicast device vxlan0 (vni 43, group 239.1.1.1 on eth0)');
  });

  it('a converged host plans nothing (a restart adopts it), in both modes', () => {
    expect(isEmptyPlan(phases(computePlan(desiredFor(FLOOD), convergedSingle(FLOOD))))).toBe(true);
    expect(isEmptyPlan(phases(computePlan(desiredFor(MCAST), convergedSingle(MCAST))))).toBe(true);
  });

  it('a peer added is one fdb append and the ingress filter; a peer removed is one fdb del', () => {
    const four = config(`mesh: { mode: flood-list, vni: 42 }\n${PEERS}  - { name: d, id: 4, address: 198.18.0.4 }\n`);
    const plan = phases(computePlan(desiredFor(four), convergedSingle(FLOOD)));
    expect(plan.pre).toEqual([]);
    expect(plan.post).toEqual([]);
    expect(plan.fdb).toEqual(['fdb append 00:00:00:00:00:00 dev vxlan0 dst 198.18.0.4 via eth0']);
    expect(plan.changes).toEqual(['add 198.18.0.4 to vxlan0\'s flood list', 'rewrite ingress filter (udp 4789 only from 3 peer addresses)']);
    const removed = phases(computePlan(desiredFor(four), convergedSingle(four, ['198.18.0.2', '198.18.0.3', '198.18.0.4', '198.18.0.9'])));
    expect(removed.fdb).toEqual(['fdb del 00:00:00:00:00:00 dev vxlan0 dst 198.18.0.9 via eth0']);
  });

  it('leaves hand-written entries alone and adds no second entry for a peer that has one', () => {
    const a = convergedSingle(FLOOD);
    const dev = a.links.get('vxlan0')!;
    dev.defaultDsts = ['198.18.0.2', '198.18.0.3', '198.18.0.99'];
    dev.ownDefaultDsts = ['198.18.0.2'];
    expect(isEmptyPlan(phases(computePlan(desiredFor(FLOOD), a)))).toBe(true);
  });

  it('recreates the device when the VNI or group changes, and repairs a detached one', () => {
    const vni = phases(computePlan(desiredFor(config(`mesh: { mode: flood-list, vni: 7 }\n${PEERS}`)), convergedSingle(FLOOD)));
    expect(vni.changes[0]).toBe('recreate flood-list device vxlan0 (vni 7, flood list of 2 remotes): vni 42 -> 7');
    expect(vni.pre.slice(0, 2)).toEqual(['link del dev vxlan0', 'link add name vxlan0 mtu 1450 type vxlan id 7 local 198.18.0.1 dev eth0 dstport 4789 learning']);
    expect(vni.fdb.length).toBe(2);
    const group = phases(computePlan(desiredFor(config(`mesh: { mode: multicast, vni: 43, group: 239.1.1.2, ttl: 4 }\n${PEERS}`)), convergedSingle(MCAST)));
    expect(group.changes[0]).toMatch(/group 239\.1\.1\.1 -> 239\.1\.1\.2$/);
    const a = convergedSingle(FLOOD);
    a.links.get('vxlan0')!.master = undefined;
    expect(phases(computePlan(desiredFor(FLOOD), a)).post).toEqual(['link set dev vxlan0 master vxbr0', 'link set dev vxlan0 up']);
  });

  it('per-peer -> flood-list: first the per-peer ports go (chain kept, new device unattached), then the device joins and the chain goes', () => {
    const perPeer = emptyHost();
    perPeer.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450, alias: 'vxmesh:bridge' }));
    for (const [dev, peer, vni] of [['vxlan2', 'b', 100002], ['vxlan3', 'c', 100004]] as const) {
      perPeer.links.set(dev, link(dev, { kind: 'vxlan', mtu: 1450, master: 'vxbr0', alias: `vxmesh:${peer}`, vxlan: { vni, remote: `198.18.0.${dev.slice(5)}`, local: '198.18.0.1', link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 } }));
    }
    perPeer.ebtables = { available: true, error: undefined, chainExists: true, chain: [GATE_RULE, '-i vxlan2 -o vxlan+ -j DROP', '-i vxlan3 -o vxlan+ -j DROP'], jumps: 1 };
    perPeer.ingress = convergedSingle(FLOOD).ingress;
    const first = phases(computePlan(desiredFor(FLOOD), perPeer));
    expect(first.pre.slice(0, 2).sort()).toEqual(['link del dev vxlan2', 'link del dev vxlan3']);
    expect(first.pre).toContain('link add name vxlan0 mtu 1450 type vxlan id 42 local 198.18.0.1 dev eth0 dstport 4789 learning');
    expect(first.post).toEqual([]);
    expect(first.ebtables).toEqual([]);
    // The kernel after the first pass: per-peer ports gone, the new device down and unattached.
    const between = convergedSingle(FLOOD);
    between.links.get('vxlan0')!.master = undefined;
    between.links.get('vxlan0')!.up = false;
    between.ebtables = perPeer.ebtables;
    const second = phases(computePlan(desiredFor(FLOOD), between));
    expect(second.post).toEqual(['link set dev vxlan0 master vxbr0', 'link set dev vxlan0 up']);
    expect(second.ebtables.map((x) => x.join(' '))).toEqual(['-t filter -D FORWARD -i vxlan+ -j VXMESH', '-t filter -F VXMESH', '-t filter -X VXMESH']);
    expect(second.pre).toEqual([]);
  });

  it('flood-list -> per-peer: first the one device goes and the per-peer devices and chain are made, then the ports join', () => {
    const first = phases(computePlan(desiredFor(config(PEERS)), convergedSingle(FLOOD)));
    expect(first.pre[0]).toBe('link del dev vxlan0');
    expect(first.chain).toEqual(['vxlan2', 'vxlan3']);
    expect(first.post).toEqual([]);
    // The kernel after the first pass: vxlan0 gone, the per-peer devices down and unattached.
    const between = convergedSingle(FLOOD);
    between.links.delete('vxlan0');
    for (const [dev, peer, vni] of [['vxlan2', 'b', 100002], ['vxlan3', 'c', 100004]] as const) {
      between.links.set(dev, link(dev, { kind: 'vxlan', mtu: 1450, up: false, alias: `vxmesh:${peer}`, vxlan: { vni, remote: `198.18.0.${dev.slice(5)}`, local: '198.18.0.1', link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 } }));
    }
    between.ebtables = { available: true, error: undefined, chainExists: true, chain: [GATE_RULE, '-i vxlan2 -o vxlan+ -j DROP', '-i vxlan3 -o vxlan+ -j DROP'], jumps: 1 };
    const second = phases(computePlan(desiredFor(config(PEERS)), between));
    expect(second.pre).toEqual([]);
    expect(second.chain).toBeUndefined();
    // They join isolated; they come up in a later pass, once isolation reads back (loop safety).
    expect(second.post).toEqual(['link set dev vxlan2 master vxbr0', 'link set dev vxlan2 type bridge_slave isolated on', 'link set dev vxlan3 master vxbr0', 'link set dev vxlan3 type bridge_slave isolated on']);
  });

  it('2000 peers in flood-list mode: one device and 1999 fdb entries, and a converged host plans nothing', () => {
    const cfg = config(`mesh: { mode: flood-list, vni: 42 }\npeers:\n${manyPeers(2000)}\n`);
    const d = desiredFor(cfg);
    const cold = phases(computePlan(d, emptyHost()));
    expect(cold.pre.filter((l) => l.startsWith('link add name vxlan')).length).toBe(1);
    expect(cold.fdb.length).toBe(1999);
    const a = convergedSingle(cfg, d.segments[0]!.single.floodList);
    a.ingress = { ...a.ingress, peers4: d.ingress!.peers4 };
    expect(isEmptyPlan(phases(computePlan(d, a)))).toBe(true);
  });
});

describe('fdb and maddr parsers', () => {
  it('tells vxmesh\'s all-zero entries (via the underlay) from hand-written ones, and counts learned MACs per remote', () => {
    const out = parseDeviceFdb(JSON.stringify([
      { mac: '00:00:00:00:00:00', dst: '198.18.0.2', viaIf: 'eth0', flags: ['self'], state: 'permanent' },
      { mac: '00:00:00:00:00:00', dst: '198.18.0.99', flags: ['self'], state: 'permanent' },
      { mac: '02:00:00:00:00:09', dst: '198.18.0.2', flags: ['self'], state: 'permanent' },
      { mac: 'aa:bb:cc:00:00:01', dst: '198.18.0.2', flags: ['self'] },
      { mac: 'aa:bb:cc:00:00:02', dst: '198.18.0.2', flags: ['self'], state: 'stale' },
      { mac: 'aa:bb:cc:00:00:03', dst: '198.18.0.3', flags: ['self'] },
      { mac: 'aa:bb:cc:00:00:04', master: 'vxbr0', flags: [] },
    ]));
    expect(out.defaultDsts).toEqual(['198.18.0.2', '198.18.0.99']);
    expect(out.ownDefaultDsts).toEqual(['198.18.0.2']);
    expect([...out.learnedByDst]).toEqual([['198.18.0.2', 2], ['198.18.0.3', 1]]);
  });

  it('reads the joined groups from ip -j maddr', () => {
    const json = '[{"ifindex":3,"ifname":"eth0","maddr":[{"link":"01:00:5e:01:01:01"},{"family":"inet","address":"239.1.1.1"},{"family":"inet","address":"224.0.0.1"},{"family":"inet6","address":"ff05::4242"}]}]';
    expect(parseMaddr(json)).toEqual(['239.1.1.1', '224.0.0.1', 'ff05::4242']);
  });
});

describe('one ownership test, whatever mesh.device is called', () => {
  /** convergedSingle with the one device renamed, as `mesh.device: vxmesh0` makes it. */
  function renamed(cfg: Config, name: string): ActualState {
    const a = convergedSingle(cfg);
    const dev = a.links.get('vxlan0')!;
    a.links.delete('vxlan0');
    a.links.set(name, { ...dev, name });
    return a;
  }
  const CUSTOM = config(`mesh: { mode: flood-list, vni: 42, device: vxmesh0 }\n${PEERS}`);

  it('a converged flood-list mesh on a custom device plans nothing, and teardown removes the device', () => {
    const a = renamed(CUSTOM, 'vxmesh0');
    expect(isOwnedDevice(a.links.get('vxmesh0')!)).toBe(true);
    expect(renderPlan(computePlan(desiredFor(CUSTOM), a))).toBe('');
    expect(phases(computeTeardown(a)).pre).toContain('link del dev vxmesh0');
  });

  it('back to per-peer, the custom device is deleted (the per-peer ports join once it is gone)', () => {
    const first = phases(computePlan(desiredFor(config(PEERS)), renamed(CUSTOM, 'vxmesh0')));
    expect(first.pre[0]).toBe('link del dev vxmesh0');
  });

  it('reads today\'s aliases as the default segment and the scoped form as its segment; foreign marks stay foreign', () => {
    expect(parseOwner('vxmesh:lxd2', 'vxlan', true)).toEqual({ segment: DEFAULT_SEGMENT, role: 'peer', name: 'lxd2' });
    expect(parseOwner('vxmesh:flood-list', 'vxlan', false)).toEqual({ segment: DEFAULT_SEGMENT, role: 'flood-list', name: 'flood-list' });
    expect(parseOwner('vxmesh:vni7', 'vxlan', false)).toEqual({ segment: DEFAULT_SEGMENT, role: 'shared', name: 'vni7' });
    expect(parseOwner('vxmesh:bridge', 'bridge', false)).toEqual({ segment: DEFAULT_SEGMENT, role: 'bridge', name: 'bridge' });
    // A peer named like a role: a device with a fixed remote is the peer's.
    expect(parseOwner('vxmesh:flood-list', 'vxlan', true)?.role).toBe('peer');
    expect(parseOwner('vxmesh:blue:multicast:multicast', 'vxlan', false)).toEqual({ segment: 'blue', role: 'multicast', name: 'multicast' });
    expect(parseOwner('vxmesh:blue:owner:x', 'vxlan', false)).toBeUndefined();
    expect(parseOwner('vxmesh:a:b', 'vxlan', true)).toBeUndefined();
    expect(parseOwner('someone', 'vxlan', true)).toBeUndefined();
    expect(parseOwner('vxmesh:other', 'bridge', false)).toBeUndefined();
    // A per-peer alias on a device vxmesh would not have named so is foreign.
    const a = renamed(CUSTOM, 'vxmesh0');
    expect(isOwnedDevice({ ...a.links.get('vxmesh0')!, alias: 'vxmesh:b', vxlan: { ...a.links.get('vxmesh0')!.vxlan!, remote: '198.18.0.2' } })).toBe(false);
    expect(ownerOf(a.links.get('vxbr0')!, { segment: 'blue' })).toBeUndefined();
  });
});
