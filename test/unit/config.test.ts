import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfig, type LoadResult } from '../../src/config/load.js';

const main = (text: string) => ({ path: '/etc/vxmesh/peers.yaml', text });
const dropin = (name: string, text: string) => ({ path: `/etc/vxmesh/peers.d/${name}`, text });

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}

const THREE = `mesh:
  mtu: 1450
peers:
  - { name: lxd1, id: 1, address: 198.18.0.1 }
  - { name: lxd2, id: 2, address: 198.18.0.2, dev: eth1 }
  - name: old3
    id: 3
    address: 198.18.0.3
    legacy: { remotes: [198.18.0.1, 198.18.0.2] }
`;

describe('config loader', () => {
  it('loads the contract example with defaults', () => {
    const r = parseConfig([main(THREE)]);
    if (!r.ok) throw new Error(errors(r).join('\n'));
    expect(r.config.mesh).toEqual({ bridge: 'vxbr0', mtu: 1450, port: 4789, vniBase: 100000, loopPrevention: 'ebtables', ingressFilter: true, probe: { enabled: true, intervalMs: 10_000, port: 7790, keyFile: undefined }, mode: 'per-peer', vni: undefined, device: 'vxlan0', group: undefined, ttl: undefined, encryption: 'none', wireguard: { port: 51820, device: 'vxwg0', tunnelRange: '169.254.192.0/18' }, control: 'static', bgp: undefined });
    expect(r.config.peers.map((p) => p.name)).toEqual(['lxd1', 'lxd2', 'old3']);
    expect(r.config.peers[1]?.dev).toBe('eth1');
    expect(r.config.peers[2]?.legacy?.remotes).toEqual(['198.18.0.1', '198.18.0.2']);
  });

  it('reports a YAML syntax error with file:line:col', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1\n')]));
    expect(e[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:\d+:\d+: YAML: /);
  });

  it('names file, line, column and field for a bad address', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.x }\n')]));
    expect(e).toEqual(['/etc/vxmesh/peers.yaml:3:32: peers[1].address: is not an IPv4 or IPv6 address']);
  });

  it('refuses an IPv6 address with a zone id (it would be link-local to one NIC)', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: "fe80::1%eth0" }\n')]));
    expect(e).toEqual(['/etc/vxmesh/peers.yaml:2:32: peers[0].address: is not an IPv4 or IPv6 address']);
  });

  it('reports a missing id and an unknown key', () => {
    const e = errors(parseConfig([main('peers:\n  - name: a\n    address: 198.18.0.1\n    color: red\n')]));
    expect(e).toContain('/etc/vxmesh/peers.yaml:2:5: peers[0].id: is required');
    expect(e.some((l) => /peers\.yaml:4:5: peers\[0\]\.color: unknown key "color"/.test(l))).toBe(true);
  });

  it('rejects duplicate id, name and address, pointing at the second', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: a, id: 1, address: 198.18.0.1 }\n')]));
    expect(e).toContain('/etc/vxmesh/peers.yaml:3:13: peers[1].name: duplicate peer name "a" (also peer "a" at /etc/vxmesh/peers.yaml:2:13)');
    expect(e.some((l) => l.startsWith('/etc/vxmesh/peers.yaml:3:20: peers[1].id: duplicate peer id 1'))).toBe(true);
    expect(e.some((l) => l.startsWith('/etc/vxmesh/peers.yaml:3:32: peers[1].address: duplicate address "198.18.0.1"'))).toBe(true);
  });

  it('finds duplicates across drop-ins and treats IPv6 spellings as one address', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: "2001:2::1" }\n'), dropin('10-b.yaml', 'peers:\n  - { name: b, id: 2, address: "2001:0002:0:0::1" }\n')]));
    expect(e[0]).toMatch(/^\/etc\/vxmesh\/peers\.d\/10-b\.yaml:2:.*duplicate address "2001:2::1"/);
  });

  it('merges drop-ins in order and rejects a setting given twice with different values', () => {
    const ok = parseConfig([main(THREE), dropin('00-node.yaml', 'node: lxd2\n'), dropin('10-more.yaml', 'mesh: { mtu: 1450 }\npeers:\n  - { name: lxd4, id: 4, address: 198.18.0.4 }\n')]);
    expect(ok.ok && ok.config.node).toBe('lxd2');
    expect(ok.ok && ok.config.peers.length).toBe(4);
    const e = errors(parseConfig([main(THREE), dropin('10-mtu.yaml', 'mesh:\n  mtu: 9000\n')]));
    expect(e).toEqual(['/etc/vxmesh/peers.d/10-mtu.yaml:2:8: mesh.mtu: is 9000 here but 1450 at /etc/vxmesh/peers.yaml:2:8']);
  });

  it('refuses an empty or peer-less file instead of reading it as "no peers"', () => {
    expect(errors(parseConfig([main('')]))[0]).toMatch(/peers\.yaml:1:1: peers: no peers defined/);
    expect(errors(parseConfig([main('mesh: { mtu: 1450 }\n')]))[0]).toMatch(/no peers defined/);
  });

  it('rejects VNIs over 24 bits', () => {
    const e = errors(parseConfig([main('mesh: { vni_base: 16000000 }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2000, address: 198.18.0.2 }\n')]));
    expect(e[0]).toMatch(/peers\.yaml:4:20: peers\[1\]\.id: link a-b would get VNI 17999001, over the 24-bit limit 16777215/);
  });

  it('rejects a device name over 15 characters and shell-like names', () => {
    const e = errors(parseConfig([main('peers:\n  - { name: a, id: 12345678901, address: 198.18.0.1 }\n  - { name: "b;rm -rf /", id: 2, address: 198.18.0.2 }\n')]));
    expect(e.some((l) => /peers\[0\]\.id:/.test(l))).toBe(true);
    expect(e.some((l) => /peers\[1\]\.name: must be/.test(l))).toBe(true);
  });

  it('rejects a legacy remote that is not a peer, and a legacy VNI that is also a pair VNI on one host', () => {
    const notPeer = errors(parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2, legacy: { remotes: [198.18.0.9] } }\n')]));
    expect(notPeer[0]).toMatch(/peers\.yaml:3:64: peers\[1\]\.legacy\.remotes\[0\]: 198\.18\.0\.9 is not the address of any peer/);
    // Two script hosts that both list a at index 0 are fine: a reaches both through one shared device.
    expect(parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2, legacy: { remotes: [198.18.0.1, 198.18.0.3] } }\n  - { name: c, id: 3, address: 198.18.0.3, legacy: { remotes: [198.18.0.1, 198.18.0.2] } }\n')]).ok).toBe(true);
    // vni_base 0: legacy index 2 collides with the pair VNI of ids 1 and 2 (0 + 1 + 1 = 2).
    const clash = errors(parseConfig([main('mesh: { vni_base: 0 }\npeers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: c, id: 3, address: 198.18.0.3, legacy: { remotes: [198.18.0.4, 198.18.0.2, 198.18.0.1] } }\n  - { name: d, id: 4, address: 198.18.0.4, legacy: { remotes: [198.18.0.3] } }\n')]));
    expect(clash.some((l) => /VNI 2 of link a-c is also the VNI of link a-b/.test(l))).toBe(true);
  });

  it('warns when two legacy peers disagree about their link VNI', () => {
    const r = parseConfig([main('peers:\n  - { name: a, id: 1, address: 198.18.0.1, legacy: { remotes: [198.18.0.2, 198.18.0.3] } }\n  - { name: b, id: 2, address: 198.18.0.2, legacy: { remotes: [198.18.0.1, 198.18.0.3] } }\n  - { name: c, id: 3, address: 198.18.0.3, legacy: { remotes: [198.18.0.1, 198.18.0.2] } }\n')]);
    expect(r.ok).toBe(true);
    // a-b: 0 on both ends; a-c: 1 vs 0; b-c: 1 vs 1.
    expect(r.ok && r.config.warnings).toEqual(['legacy link a-c uses VNI 1 on a but 0 on c: it works only through VXLAN learning today']);
  });
});
