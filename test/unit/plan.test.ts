import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';
import { PHASES, computePlan, foreignBridgeMtu, computeTeardown, isEmptyPlan, renderPlan, type Step } from '../../src/plan/plan.js';
import { applyPlan } from '../../src/kernel/apply.js';
import { CommandError, type Runner } from '../../src/kernel/runner.js';
import { emptyHost, link, phases } from '../helpers/kernel-state.js';
import { GATE_RULE } from '../../src/model/names.js';
import type { ActualState, LinkInfo } from '../../src/model/state.js';
import { probeAddressV6 } from '../../src/model/probe-address.js';
import { expectedRules } from '../../src/plan/ingress.js';
import type { Config } from '../../src/model/types.js';

function config(text: string): Config {
  const r = parseConfig([{ path: 'peers.yaml', text }]);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

const MESH = config(`peers:
  - { name: a, id: 1, address: 198.18.0.1 }
  - { name: b, id: 2, address: 198.18.0.2 }
  - { name: c, id: 3, address: 198.18.0.3 }
`);

function desiredFor(cfg: Config, actual: ActualState) {
  const self = findSelf(cfg, undefined, new Map([['198.18.0.1', 'eth0']]));
  if (!self.ok) throw new Error(self.reason);
  return computeDesired(cfg, self.self, self.underlay);
}

/** The kernel after applying a plan for `desired`, as observe() would read it. */
function converged(cfg: Config): ActualState {
  const a = emptyHost();
  const d = desiredFor(cfg, a);
  a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450, alias: 'vxmesh:bridge', addresses: [probeAddressV6(1)] }));
  for (const l of d.links) {
    a.links.set(l.device, link(l.device, { kind: 'vxlan', mtu: 1450, master: 'vxbr0', alias: `vxmesh:${l.peer}`, isolated: true, vxlan: { vni: l.vni, remote: l.remote, local: l.local, link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 } }));
  }
  const devs = d.links.map((l) => l.device);
  a.ebtables.chainExists = true;
  a.ebtables.jumps = 1;
  a.ingress = { ...a.ingress, present: true, peers4: d.ingress!.peers4, rules: expectedRules(4789, d.ingress!.local) };
  a.ebtables.chain = [GATE_RULE, ...devs.map((x) => `-i ${x} -o vxlan+ -j DROP`)];
  return a;
}

describe('planner', () => {
  it('gives new VXLAN ports no IPv6 address of their own, unless the kernel has no IPv6', () => {
    const a = emptyHost();
    expect(phases(computePlan(desiredFor(MESH, a), a)).pre).toEqual(expect.arrayContaining(['link set dev vxlan2 addrgenmode none', 'link set dev vxlan3 addrgenmode none']));
    a.ipv6 = { kernel: false, allDisabled: true, defaultDisabled: true, disabled: new Map() };
    expect(phases(computePlan(desiredFor(MESH, a), a)).pre.filter((l) => l.includes('addrgenmode'))).toEqual([]);
  });

  it('attaches no port and writes no rule when no ebtables works, but does in isolated mode', () => {
    const a = emptyHost();
    a.ebtables = { available: false, error: 'no working ebtables', chainExists: false, chain: [], jumps: 0 };
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.post).toEqual([]);
    expect(plan.chain).toBeUndefined();
    expect(plan.chainAppend).toEqual([]);
    expect(plan.ebtables).toEqual([]);
    expect(plan.blocked).toEqual(['no port joins vxbr0: loop prevention cannot be put in place without a working ebtables']);
    expect(plan.pre).toContain('link add name vxlan2 mtu 1450 type vxlan id 100002 remote 198.18.0.2 local 198.18.0.1 dev eth0 dstport 4789 nolearning');
    const iso = config(`mesh: { loop_prevention: isolated }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n`);
    const isoPlan = phases(computePlan(desiredFor(iso, a), a));
    expect(isoPlan.blocked).toEqual([]);
    expect(isoPlan.post).toContain('link set dev vxlan2 type bridge_slave isolated on');
  });

  it('renders the ebtables commands of the backend in use', () => {
    const a = emptyHost();
    const text = renderPlan(computePlan(desiredFor(MESH, a), a), { ebtables: 'ebtables-nft', restore: 'ebtables-nft-restore' });
    expect(text).toContain("ebtables-nft-restore --noflush <<'EOF'");
    expect(text).toContain('ebtables-nft -t filter -I FORWARD 1 -i vxlan+ -j VXMESH');
    expect(text).not.toMatch(/^ebtables(-restore)? /m);
  });


  it('builds a whole mesh on an empty host in the safe order (golden)', () => {
    const a = emptyHost();
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(renderPlan(plan).split('\n')).toEqual([
      "nft -f - <<'EOF'",
      'table inet vxmesh',
      'delete table inet vxmesh',
      'table inet vxmesh {',
      '  set peers4 { type ipv4_addr; elements = { 198.18.0.2, 198.18.0.3 } }',
      '  set peers6 { type ipv6_addr; }',
      '  counter dropped { packets 0 bytes 0 }',
      '  chain input {',
      '    type filter hook input priority filter - 10; policy accept;',
      '    udp dport 4789 ip daddr 198.18.0.1 ip saddr @peers4 accept',
      '    udp dport 4789 ip daddr 198.18.0.1 counter name dropped drop',
      '  }',
      '}',
      'EOF',
      "ip -force -batch - <<'EOF'",
      'link add name vxbr0 type bridge',
      'link set dev vxbr0 alias vxmesh:bridge',
      'link set dev vxbr0 mtu 1450',
      'link set dev vxbr0 up',
      'link add name vxlan2 mtu 1450 type vxlan id 100002 remote 198.18.0.2 local 198.18.0.1 dev eth0 dstport 4789 nolearning',
      'link set dev vxlan2 alias vxmesh:b',
      'link set dev vxlan2 addrgenmode none',
      'link add name vxlan3 mtu 1450 type vxlan id 100004 remote 198.18.0.3 local 198.18.0.1 dev eth0 dstport 4789 nolearning',
      'link set dev vxlan3 alias vxmesh:c',
      'link set dev vxlan3 addrgenmode none',
      'addr add fe80::7678:0:0:1/64 dev vxbr0 nodad',
      'EOF',
      "ebtables-restore --noflush <<'EOF'",
      '*filter',
      ':VXMESH RETURN',
      '-A VXMESH -o ! vxlan+ -j RETURN',
      '-A VXMESH -i vxlan2 -o vxlan+ -j DROP',
      '-A VXMESH -i vxlan3 -o vxlan+ -j DROP',
      'EOF',
      'ebtables -t filter -I FORWARD 1 -i vxlan+ -j VXMESH',
      "ip -force -batch - <<'EOF'",
      'link set dev vxlan2 master vxbr0',
      'link set dev vxlan2 type bridge_slave isolated on',
      'link set dev vxlan3 master vxbr0',
      'link set dev vxlan3 type bridge_slave isolated on',
      'EOF',
    ]);
  });

  it('brings a port up only once the kernel reads it back attached and isolated', () => {
    const a = converged(MESH);
    a.links.get('vxlan2')!.up = false;
    a.links.get('vxlan3')!.up = false;
    a.links.get('vxlan3')!.isolated = false; // `isolated on` was refused
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.pre).toEqual(['link set dev vxlan3 type bridge_slave isolated on']);
    expect(plan.post).toEqual(['link set dev vxlan2 up']);
  });

  it('plans nothing when the kernel already matches (hitless start)', () => {
    const a = converged(MESH);
    expect(isEmptyPlan(computePlan(desiredFor(MESH, a), a))).toBe(true);
  });

  it('changes a remote in place and leaves other links alone', () => {
    const a = converged(MESH);
    const moved = config('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: c, id: 3, address: 198.18.0.33 }\n');
    const plan = phases(computePlan(desiredFor(moved, a), a));
    expect(plan.pre).toEqual(['link set dev vxlan3 type vxlan remote 198.18.0.33 local 198.18.0.1 nolearning']);
    expect(plan.nft).toContain('elements = { 198.18.0.2, 198.18.0.33 }');
    expect(plan.chain).toBeUndefined();
    expect(plan.post).toEqual([]);
  });

  it('recreates a device whose VNI changed (the kernel cannot change it in place)', () => {
    const a = converged(MESH);
    const rebased = config('mesh: { vni_base: 200000 }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n');
    const plan = phases(computePlan(desiredFor(rebased, a), a));
    expect(plan.changes).toContain('recreate vxlan2 to b (198.18.0.2, vni 200002): vni 100002 -> 200002');
    expect(plan.changes).toContain('delete vxlan3 (c is no longer a peer)');
    expect(plan.pre[0]).toBe('link del dev vxlan3');
  });

  it('never touches a foreign device, and reports it', () => {
    const a = converged(MESH);
    a.links.set('vxlan2', link('vxlan2', { kind: 'vxlan', alias: undefined, vxlan: { vni: 5, remote: '198.18.0.9', local: undefined, link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    a.links.set('vxlan9', link('vxlan9', { kind: 'vxlan' }));
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.blocked[0]).toMatch(/^vxlan2 exists and is not managed by vxmesh/);
    expect(renderPlan(plan)).not.toMatch(/vxlan9|dev vxlan2/);
  });

  it('replaces vxlansetup.sh devices on the mesh bridge in one batch, and only those', () => {
    const a = emptyHost();
    a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450 }));
    // The script names devices by list index: its vxlan0 goes to b, vxlan1 to c, on VNIs 0 and 1.
    a.links.set('vxlan0', link('vxlan0', { kind: 'vxlan', master: 'vxbr0', vxlan: { vni: 0, remote: '198.18.0.2', local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    a.links.set('vxlan3', link('vxlan3', { kind: 'vxlan', master: 'vxbr0', vxlan: { vni: 1, remote: '198.18.0.3', local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    // Unrelated: same remote but another bridge.
    a.links.set('vxother', link('vxother', { kind: 'vxlan', master: 'br-other', vxlan: { vni: 9, remote: '198.18.0.2', local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.pre.slice(0, 2)).toEqual(['link del dev vxlan0', 'link del dev vxlan3']);
    expect(plan.pre).toContain('link add name vxlan3 mtu 1450 type vxlan id 100004 remote 198.18.0.3 local 198.18.0.1 dev eth0 dstport 4789 nolearning');
    expect(plan.changes[0]).toBe('replace unmanaged vxlan0 (remote 198.18.0.2, vni 0, as vxlansetup.sh makes them) with vxlan2 (vni 100002)');
    expect(plan.blocked).toEqual([]);
    expect(renderPlan(plan)).not.toMatch(/vxother/);
  });

  it('reaches script servers that give this host the same VNI through one shared, learning device', () => {
    const shared = config('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2, legacy: { remotes: [198.18.0.1, 198.18.0.3] } }\n  - { name: c, id: 3, address: 198.18.0.3, legacy: { remotes: [198.18.0.1, 198.18.0.2] } }\n');
    const a = emptyHost();
    const plan = phases(computePlan(desiredFor(shared, a), a));
    expect(plan.pre).toContain('link add name vxlanv0 mtu 1450 type vxlan id 0 local 198.18.0.1 dev eth0 dstport 4789 learning');
    expect(plan.fdb).toEqual(['fdb append 00:00:00:00:00:00 dev vxlanv0 dst 198.18.0.2', 'fdb append 00:00:00:00:00:00 dev vxlanv0 dst 198.18.0.3']);
    expect(plan.post).toEqual(['link set dev vxlanv0 master vxbr0', 'link set dev vxlanv0 type bridge_slave isolated on']);
    // Converged: one flood entry lost is put back, nothing else.
    a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450, alias: 'vxmesh:bridge', addresses: [probeAddressV6(1)] }));
    a.links.set('vxlanv0', link('vxlanv0', { kind: 'vxlan', mtu: 1450, master: 'vxbr0', alias: 'vxmesh:vni0', isolated: true, defaultDsts: ['198.18.0.3'], vxlan: { vni: 0, remote: undefined, local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    a.ebtables = { ...a.ebtables, chainExists: true, jumps: 1, chain: [GATE_RULE] };
    a.ingress = { ...a.ingress, present: true, peers4: ['198.18.0.2', '198.18.0.3'], rules: expectedRules(4789, ['198.18.0.1']) };
    const again = phases(computePlan(desiredFor(shared, a), a));
    expect(again.fdb).toEqual(['fdb append 00:00:00:00:00:00 dev vxlanv0 dst 198.18.0.2']);
    expect(again.pre).toEqual([]);
  });

  it('a new peer only appends its rules; a stale or foreign rule makes the chain be rewritten', () => {
    const a = converged(MESH);
    const four = config('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: c, id: 3, address: 198.18.0.3 }\n  - { name: d, id: 4, address: 198.18.0.4 }\n');
    const plan = phases(computePlan(desiredFor(four, a), a));
    expect(plan.chain).toBeUndefined();
    // One rule per port: the new port's, nothing else.
    expect(plan.chainAppend).toEqual(['-i vxlan4 -o vxlan+ -j DROP']);
    expect(renderPlan(plan)).toContain("ebtables-restore --noflush <<'EOF'\n*filter\n-A VXMESH -i vxlan4 -o vxlan+ -j DROP\nEOF");
    // Rules in another order are as good.
    const shuffled = converged(MESH);
    shuffled.ebtables.chain = [GATE_RULE, ...shuffled.ebtables.chain.slice(1).reverse()];
    expect(isEmptyPlan(computePlan(desiredFor(MESH, shuffled), shuffled))).toBe(true);
    // A rule for a device that is gone, or a doubled one: rewrite atomically.
    const stale = converged(MESH);
    stale.ebtables.chain.push('-i vxlan9 -o vxlan+ -j DROP');
    expect(phases(computePlan(desiredFor(MESH, stale), stale)).chain).toEqual(['vxlan2', 'vxlan3']);
    const doubled = converged(MESH);
    doubled.ebtables.chain.push(doubled.ebtables.chain[1]!);
    expect(phases(computePlan(desiredFor(MESH, doubled), doubled)).chain).toEqual(['vxlan2', 'vxlan3']);
    // A chain in the earlier pairwise form (a daemon upgraded in place): one atomic rewrite.
    const pairwise = converged(MESH);
    pairwise.ebtables.chain = [GATE_RULE, '-i vxlan2 -o vxlan3 -j DROP', '-i vxlan3 -o vxlan2 -j DROP'];
    const upgrade = computePlan(desiredFor(MESH, pairwise), pairwise);
    expect(phases(upgrade).chain).toEqual(['vxlan2', 'vxlan3']);
    expect(upgrade.changes).toContain('rewrite VXMESH chain (2 port rules, had 2)');
  });

  it('repairs drift: lost rule, detached port, duplicate jump', () => {
    const a = converged(MESH);
    a.ebtables.chain.pop();
    a.ebtables.jumps = 2;
    a.links.get('vxlan3')!.master = undefined;
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.chain).toBeUndefined();
    expect(plan.chainAppend).toEqual(['-i vxlan3 -o vxlan+ -j DROP']);
    const jump = ['-i', 'vxlan+', '-j', 'VXMESH'];
    expect(plan.ebtables).toEqual([['-t', 'filter', '-D', 'FORWARD', ...jump], ['-t', 'filter', '-D', 'FORWARD', ...jump], ['-t', 'filter', '-I', 'FORWARD', '1', ...jump]]);
    // A detached port that is up goes down to rejoin isolated; it comes up in the next pass.
    expect(plan.post).toEqual(['link set dev vxlan3 down', 'link set dev vxlan3 master vxbr0', 'link set dev vxlan3 type bridge_slave isolated on']);
  });

  it('moves the jump back to the top when a rule that can accept stands before it; DROP rules may', () => {
    const a = converged(MESH);
    a.ebtables.jumpShadowedBy = '-j ACCEPT';
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    const jump = ['-i', 'vxlan+', '-j', 'VXMESH'];
    expect(plan.ebtables).toEqual([['-t', 'filter', '-D', 'FORWARD', ...jump], ['-t', 'filter', '-I', 'FORWARD', '1', ...jump]]);
    expect(plan.changes).toEqual(['move FORWARD jump to VXMESH back to the top (the rule "-j ACCEPT" stood before it)']);
  });

  it('names read from the kernel outside vxmesh\'s alphabet are foreign, whatever their alias', () => {
    const a = converged(MESH);
    a.links.set('victim#x', link('victim#x', { kind: 'vxlan', alias: 'vxmesh:ghost', vxlan: { vni: 7, remote: '198.18.0.9', local: undefined, link: 'eth0', port: 4789, learning: false } }));
    a.links.set('"q', link('"q', { kind: 'vxlan', alias: 'vxmesh:ghost2', vxlan: { vni: 8, remote: '198.18.0.9', local: undefined, link: 'eth0', port: 4789, learning: false } }));
    a.links.set('ghost3', link('ghost3', { kind: 'vxlan', alias: 'vxmesh:ghost3', vxlan: { vni: 9, remote: '198.18.0.9', local: undefined, link: 'eth0', port: 4789, learning: false } }));
    expect(isEmptyPlan(computePlan(desiredFor(MESH, a), a))).toBe(true);
    expect(renderPlan(computeTeardown(a))).not.toMatch(/victim|"q|ghost3/);
  });

  it('isolated mode: ports join down, get isolated, then come up; the chain goes', () => {
    const iso = config('mesh: { loop_prevention: isolated }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n');
    const a = emptyHost();
    a.ebtables.chainExists = true;
    a.ebtables.jumps = 1;
    const plan = phases(computePlan(desiredFor(iso, a), a));
    expect(plan.post).toEqual(['link set dev vxlan2 master vxbr0', 'link set dev vxlan2 type bridge_slave isolated on']);
    expect(plan.ebtables).toEqual([['-t', 'filter', '-D', 'FORWARD', '-i', 'vxlan+', '-j', 'VXMESH'], ['-t', 'filter', '-F', 'VXMESH'], ['-t', 'filter', '-X', 'VXMESH']]);
    // Switching with an attached port that is not isolated: isolation goes on, the chain stays
    // until a later read shows the port isolated.
    const b = converged(MESH);
    b.links.get('vxlan2')!.isolated = false;
    const p2 = phases(computePlan(desiredFor(iso, b), b));
    expect(p2.pre).toContain('link set dev vxlan2 type bridge_slave isolated on');
    expect(p2.ebtables).toEqual([]);
    b.links.get('vxlan2')!.isolated = true;
    expect(phases(computePlan(desiredFor(iso, b), b)).ebtables.length).toBe(3);
  });

  it('uses a bridge someone else made (netplan), leaves its MTU and reports it, and never deletes it', () => {
    const a = converged(MESH);
    a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1500, alias: undefined }));
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.pre).toEqual(['addr add fe80::7678:0:0:1/64 dev vxbr0 nodad']);
    expect(foreignBridgeMtu(a.links.get('vxbr0'), 1450)).toMatch(/^bridge vxbr0 was not made by vxmesh and has mtu 1500, not the mesh mtu 1450/);
    // Handed to vxmesh (its alias), the bridge gets the mesh MTU, and the reason goes.
    const owned = converged(MESH);
    owned.links.get('vxbr0')!.mtu = 1500;
    expect(phases(computePlan(desiredFor(MESH, owned), owned)).pre).toEqual(['link set dev vxbr0 mtu 1450']);
    expect(foreignBridgeMtu(owned.links.get('vxbr0'), 1450)).toBeUndefined();
    expect(phases(computeTeardown(a)).pre.sort()).toEqual(['link del dev vxlan2', 'link del dev vxlan3']);
    // With our probe address on it, stop takes that address back, and only that.
    a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', mtu: 1450, alias: undefined, addresses: ['fe80::1', probeAddressV6(1), '100.64.0.1'] }));
    expect(phases(computeTeardown(a)).pre.sort()).toEqual(['addr del fe80::7678:0:0:1/64 dev vxbr0', 'link del dev vxlan2', 'link del dev vxlan3']);
  });

  it('a peer named "bridge" is an ordinary owned device (its alias looks like the bridge mark)', () => {
    const cfg = config('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: bridge, id: 2, address: 198.18.0.2 }\n');
    const a = converged(cfg);
    expect(a.links.get('vxlan2')?.alias).toBe('vxmesh:bridge');
    expect(isEmptyPlan(computePlan(desiredFor(cfg, a), a))).toBe(true);
    expect(phases(computeTeardown(a)).pre).toContain('link del dev vxlan2');
  });

  it('keeps devices within what the underlay can carry instead of asking the kernel again and again', () => {
    const a = emptyHost();
    a.links.get('eth0')!.mtu = 1460;
    const plan = phases(computePlan(desiredFor(MESH, a), a));
    expect(plan.pre).toContain('link add name vxlan2 mtu 1410 type vxlan id 100002 remote 198.18.0.2 local 198.18.0.1 dev eth0 dstport 4789 nolearning');
    const b = converged(MESH);
    b.links.get('eth0')!.mtu = 1460;
    for (const dev of ['vxlan2', 'vxlan3']) b.links.get(dev)!.mtu = 1410;
    expect(isEmptyPlan(computePlan(desiredFor(MESH, b), b))).toBe(true);
    // The underlay grows back: the devices follow.
    b.links.get('eth0')!.mtu = 1500;
    expect(phases(computePlan(desiredFor(MESH, b), b)).pre).toEqual(['link set dev vxlan2 mtu 1450', 'link set dev vxlan3 mtu 1450']);
  });

  it('teardown removes only what vxmesh owns', () => {
    const a = converged(MESH);
    a.links.set('br-other', link('br-other', { kind: 'bridge' }));
    a.links.set('vxlan77', link('vxlan77', { kind: 'vxlan', alias: 'someone' }));
    const plan = phases(computeTeardown(a));
    expect(plan.pre.sort()).toEqual(['link del dev vxbr0', 'link del dev vxlan2', 'link del dev vxlan3']);
    // Loop prevention stays while owned ports are attached; it goes once they read back gone.
    expect(plan.ebtables).toEqual([]);
    expect(plan.nft).toBe('table inet vxmesh\ndelete table inet vxmesh\n');
    for (const d of ['vxlan2', 'vxlan3', 'vxbr0']) a.links.delete(d);
    expect(phases(computeTeardown(a)).ebtables.length).toBe(3);
  });

  it('teardown keeps its own bridge while containers are plugged into it, and takes back only its address', () => {
    const a = converged(MESH);
    a.links.set('c1', link('c1', { kind: 'veth', master: 'vxbr0' }));
    const plan = computeTeardown(a);
    expect(phases(plan).pre.sort()).toEqual(['addr del fe80::7678:0:0:1/64 dev vxbr0', 'link del dev vxlan2', 'link del dev vxlan3']);
    expect(plan.changes).toContain('keep bridge vxbr0: it has ports vxmesh does not own (c1)');
    // Once the veth is gone, the bridge goes.
    a.links.delete('c1');
    expect(phases(computeTeardown(a)).pre).toContain('link del dev vxbr0');
  });

  it('plans 1000 peers (isolated mode, the per-peer ceiling) from config to plan', () => {
    const peers = Array.from({ length: 1000 }, (_, k) => `  - { name: p${k + 1}, id: ${k + 1}, address: 198.18.${Math.floor((k + 1) / 250)}.${((k + 1) % 250) + 1} }`).join('\n');
    const cfg = config(`mesh: { loop_prevention: isolated, vni_base: 1000 }\npeers:\n${peers}\n`);
    const a = emptyHost();
    const self = findSelf(cfg, undefined, new Map([[cfg.peers[0]!.address, 'eth0']]));
    if (!self.ok) throw new Error(self.reason);
    const plan = phases(computePlan(computeDesired(cfg, self.self, self.underlay), a));
    expect(plan.post.filter((l) => l.endsWith(' isolated on')).length).toBe(999);
    expect(plan.post.filter((l) => l.endsWith(' up')).length).toBe(0);
  });
});

describe('phases as data', () => {
  it('runs the phases in the table order, with what each guards and needs', () => {
    expect(PHASES.map((r) => `${r.phase}:${r.tool}`)).toEqual(['ingress:nft', 'wireguard:ip', 'wireguard:wireguard-go', 'wireguard:ip', 'wireguard:wg', 'links:ip', 'flood:bridge', 'loop:ebtables-restore', 'loop:ebtables-restore', 'loop:ebtables', 'ports:ip', 'frr:vtysh']);
    expect(PHASES.filter((r) => r.needsLoopSafety).map((r) => r.phase)).toEqual(['ports']);
    // Every loop-guarding row comes before the first row that needs loop safety.
    const firstNeeds = PHASES.findIndex((r) => r.needsLoopSafety);
    expect(PHASES.slice(firstNeeds).some((r) => r.guardsLoops !== false)).toBe(false);
    // A plan's steps follow the table: a fresh host's plan touches every phase but flood.
    const a = emptyHost();
    const plan = computePlan(desiredFor(MESH, a), a);
    expect(plan.steps.map((s) => `${s.phase}:${s.tool}`)).toEqual(['ingress:nft', 'links:ip', 'loop:ebtables-restore', 'loop:ebtables', 'ports:ip']);
    expect(plan.steps.map((s) => [s.guardsLoops, s.needsLoopSafety])).toEqual([[false, false], [false, false], [true, false], [true, false], [false, true]]);
  });

  it('a secret step shows neither in `vxmesh plan` nor in the error of a failed apply', async () => {
    const key = 'private-key yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
    const step: Step = { tool: 'ip', args: ['-force', '-batch', '-'], input: `${key}\n`, phase: 'links', guardsLoops: false, needsLoopSafety: false, secret: true };
    const text = renderPlan({ steps: [step], changes: [], blocked: [] });
    expect(text).not.toContain('yAnz5TF');
    expect(text).toContain('<secret: 57 bytes>');
    // The same step, not secret, prints its input as is (so the test above can fail).
    expect(renderPlan({ steps: [{ ...step, secret: false }], changes: [], blocked: [] })).toContain('yAnz5TF');
    const runner: Runner = { run: async (file, args, opts) => { throw new CommandError([file, ...args].join(' '), 1, 'Invalid argument', opts?.input); } };
    const [err] = await applyPlan(runner, { steps: [step], changes: [], blocked: [] }, undefined);
    expect(err).toBeInstanceOf(CommandError);
    expect(JSON.stringify({ ...(err as CommandError), message: err!.message })).not.toContain('yAnz5TF');
    expect((err as CommandError).input).toBe('<secret: 57 bytes>');
  });
});
