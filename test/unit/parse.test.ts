import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDeviceFdb, parseEbtablesSave, parseIngress, parseIpLinks, parseLearnedMacs } from '../../src/kernel/parse.js';
import { currentUnderlay, localAddresses } from '../../src/model/state.js';
import { expectedRules } from '../../src/plan/ingress.js';

/**
 * Output captured from a real namespace (iproute2, ebtables 1.8 nf_tables, nft) holding a
 * 3-peer mesh as vxmesh builds it for peer a, a shared legacy device vxlanv7 flooding to two
 * script servers, and a container port ct0 with one static MAC.
 */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/kernel/${name}`, import.meta.url), 'utf8');

describe('parsers on captured kernel output', () => {
  it('ip -j -d -s addr show: links, owned devices, vxlan data, ports, addresses', () => {
    const links = parseIpLinks(fixture('ip-addr.json'));
    expect([...links.keys()]).toEqual(['lo', 'eth0p', 'eth0', 'vxbr0', 'vxlan2', 'vxlan3', 'vxlanv7', 'ct0p', 'ct0']);
    const v2 = links.get('vxlan2')!;
    expect(v2).toMatchObject({ kind: 'vxlan', up: true, mtu: 1450, master: 'vxbr0', alias: 'vxmesh:b', isolated: true });
    expect(v2.vxlan).toEqual({ vni: 100002, remote: '198.18.0.2', local: '198.18.0.1', link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 });
    expect(links.get('vxlanv7')!.vxlan).toEqual({ vni: 7, remote: undefined, local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 });
    expect(links.get('vxbr0')).toMatchObject({ kind: 'bridge', alias: 'vxmesh:bridge', mtu: 1450, master: undefined, isolated: undefined, vxlan: undefined });
    expect(links.get('ct0p')!.up).toBe(false);
    expect(links.get('eth0')!.addresses).toEqual(['198.18.0.1', 'fe80::f84f:b5ff:feeb:e236']);
    expect(typeof v2.stats.txPackets).toBe('number');
    expect(localAddresses(links).get('198.18.0.1')).toBe('eth0');
    expect(currentUnderlay(links)).toBe('eth0');
  });

  it('ebtables-save: our chain, its rules without the "-A VXMESH" prefix, and the FORWARD jump', () => {
    expect(parseEbtablesSave(fixture('ebtables-save.txt'))).toEqual({
      chainExists: true,
      chain: ['-o ! vxlan+ -j RETURN', '-i vxlan2 -o vxlan+ -j DROP', '-i vxlan3 -o vxlan+ -j DROP'],
      jumps: 1,
      jumpShadowedBy: undefined,
    });
    expect(parseEbtablesSave('*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n')).toEqual({ chainExists: false, chain: [], jumps: 0, jumpShadowedBy: undefined });
  });

  it('ebtables-save: a FORWARD rule before the jump that could accept is reported; DROP rules before it are harmless', () => {
    const save = (...forward: string[]) => `*filter\n:INPUT ACCEPT\n:FORWARD ACCEPT\n:OUTPUT ACCEPT\n:VXMESH RETURN\n${forward.map((r) => `-A FORWARD ${r}\n`).join('')}-A VXMESH -o ! vxlan+ -j RETURN\n`;
    expect(parseEbtablesSave(save('-j ACCEPT', '-i vxlan+ -j VXMESH')).jumpShadowedBy).toBe('-j ACCEPT');
    expect(parseEbtablesSave(save('-i eth9 -j DROP', '-i vxlan+ -j VXMESH', '-j ACCEPT')).jumpShadowedBy).toBeUndefined();
    expect(parseEbtablesSave(save('-p ARP -j other', '-i vxlan+ -j VXMESH')).jumpShadowedBy).toBe('-p ARP -j other');
  });

  it('bridge -j fdb show dev: the flood list of a shared device (all-zero MAC entries only)', () => {
    expect(parseDeviceFdb(fixture('bridge-fdb-dev.json')).defaultDsts).toEqual(['198.18.0.4', '198.18.0.5']);
  });

  it('bridge -j fdb show br: learned MACs per port, not permanent or the devices\' own entries', () => {
    expect([...parseLearnedMacs(fixture('bridge-fdb-br.json'))]).toEqual([['ct0', 1]]);
  });

  it('nft -j list table inet vxmesh: peer sets, rule signatures and the drop counter', () => {
    const ing = parseIngress(fixture('nft-table.json'));
    expect(ing).toEqual({ present: true, peers4: ['198.18.0.2', '198.18.0.3'], peers6: [], rules: expectedRules(4789, ['198.18.0.1']), dropped: 0, droppedBytes: 0, outputRules: [], clearOut: 0, wgDropped: 0 });
  });
});
