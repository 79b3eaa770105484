import { describe, expect, it } from 'vitest';
import { PEERS, config } from '../helpers/config.js';
import { formatIssue, parseConfig } from '../../src/config/load.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';
import { computePlan, renderPlan } from '../../src/plan/plan.js';
import { emptyHost, link, phases } from '../helpers/kernel-state.js';
import { parseOwner } from '../../src/model/names.js';
import type { Config } from '../../src/model/types.js';

function errors(text: string): string[] {
  const r = parseConfig([{ path: '/etc/vxmesh/peers.yaml', text }]);
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}

const SEGMENTS = `segments:
  - { name: prod, vni: 1001 }
  - { name: stage, vni: 1002, mtu: 1400, peers: [a, b] }
  - { name: store, vni: 1003, bridge: brstore, device: vxstore, peers: [b, c] }
`;

function desiredFor(cfg: Config) {
  const self = findSelf(cfg, undefined, new Map([['198.18.0.1', 'eth0']]));
  if (!self.ok) throw new Error(self.reason);
  return computeDesired(cfg, self.self, self.underlay);
}

describe('segments: config', () => {
  it('takes segments with defaults (flood-list, vxbr-<name>, vx-<name>, the mesh MTU, every peer)', () => {
    const c = config(`${PEERS}${SEGMENTS}`);
    expect(c.mesh.mode).toBe('flood-list');
    expect(c.segments!.map((s) => [s.name, s.vni, s.mtu, s.bridge, s.device, s.members])).toEqual([
      ['prod', 1001, 1450, 'vxbr-prod', 'vx-prod', undefined],
      ['stage', 1002, 1400, 'vxbr-stage', 'vx-stage', ['a', 'b']],
      ['store', 1003, 1450, 'brstore', 'vxstore', ['b', 'c']],
    ]);
  });

  it('refuses per-peer mode, a duplicate VNI or name, an unknown member, a name too long for its bridge, and names vxmesh uses elsewhere, at file:line:col', () => {
    expect(errors(`mesh: { mode: per-peer }\n${PEERS}${SEGMENTS}`).join('\n')).toMatch(/peers.yaml:1:\d+: mesh.mode: per-peer mode cannot carry segments/);
    const e = errors(`${PEERS}segments:
  - { name: prod, vni: 1001 }
  - { name: prod, vni: 1001 }
  - { name: x, vni: 7, peers: [a, zed] }
  - { name: averyverylongname, vni: 8 }
  - { name: y, vni: 9, device: vxlan5 }
  - { name: z, vni: 10, bridge: vxbr-prod }
`).join('\n');
    expect(e).toMatch(/:7:13: segments\[1\]\.name: duplicate segment name "prod"/);
    expect(e).toMatch(/:7:24: segments\[1\]\.vni: VNI 1001 is also segment "prod"'s/);
    expect(e).toMatch(/:8:35: segments\[2\]\.peers\[1\]: "zed" is not a peer/);
    expect(e).toMatch(/:9:13: segments\[3\]\.bridge: bridge name "vxbr-averyverylongname" would be over 15 characters/);
    expect(e).toMatch(/segments\[4\]\.device: "vxlan5" is a name vxmesh gives its per-peer devices/);
    expect(e).toMatch(/:11:33: segments\[5\]\.bridge: "vxbr-prod" is also segment "prod"'s bridge/);
  });

  it('refuses control: evpn with segments for now, saying why', () => {
    expect(errors(`mesh: { control: evpn, bgp: { asn: 65000, neighbors: [198.18.0.9] } }\n${PEERS}${SEGMENTS}`).join('\n')).toMatch(/mesh.control: segments with control: evpn are not supported yet/);
  });

  it('needs a group per segment in multicast mode unless mesh.group gives one for all', () => {
    expect(errors(`mesh: { mode: multicast }\n${PEERS}segments:\n  - { name: p, vni: 1 }\n`).join('\n')).toMatch(/segments\[0\]\.group: is required in multicast mode/);
    const c = config(`mesh: { mode: multicast, group: 239.1.1.1 }\n${PEERS}segments:\n  - { name: p, vni: 1 }\n  - { name: q, vni: 2, group: 239.1.1.2 }\n`);
    expect(c.segments!.map((s) => s.group)).toEqual(['239.1.1.1', '239.1.1.2']);
  });
});

describe('segments: planning', () => {
  it('makes a bridge and a device per segment this host is in, with scoped aliases and the segment MTU (golden)', () => {
    const d = desiredFor(config(`${PEERS}${SEGMENTS}`));
    expect(d.segments.map((g) => g.name)).toEqual(['prod', 'stage']);
    expect(d.links.map((l) => `${l.peer}@${l.segment}`)).toEqual(['b@prod', 'b@stage', 'c@prod']);
    const text = renderPlan(computePlan(d, emptyHost())).split('\n');
    expect(text).toContain('link add name vxbr-stage type bridge');
    expect(text).toContain('link set dev vxbr-stage alias vxmesh:stage:bridge:bridge');
    expect(text).toContain('link add name vx-stage mtu 1400 type vxlan id 1002 local 198.18.0.1 dev eth0 dstport 4789 learning');
    expect(text).toContain('link set dev vx-stage alias vxmesh:stage:flood-list:flood-list');
    expect(text).toContain('fdb append 00:00:00:00:00:00 dev vx-stage dst 198.18.0.2 via eth0');
    expect(text).not.toContain('fdb append 00:00:00:00:00:00 dev vx-stage dst 198.18.0.3 via eth0');
    expect(text).toContain('link set dev vx-prod master vxbr-prod');
    expect(text.join('\n')).not.toMatch(/brstore|vxstore/);
    // The probe address goes on the first segment's bridge only.
    expect(d.probe?.bridge).toBe('vxbr-prod');
  });

  it('reads its scoped aliases back as the segment\'s objects', () => {
    expect(parseOwner('vxmesh:stage:bridge:bridge', 'bridge', false)).toEqual({ segment: 'stage', role: 'bridge', name: 'bridge' });
    expect(parseOwner('vxmesh:stage:flood-list:flood-list', 'vxlan', false)).toEqual({ segment: 'stage', role: 'flood-list', name: 'flood-list' });
  });

  it('a removed segment: its device goes; its bridge goes only when no container is on it', () => {
    const cfg = config(`${PEERS}segments:\n  - { name: prod, vni: 1001 }\n`);
    const d = desiredFor(cfg);
    const a = emptyHost();
    a.links.set('vxbr-old', link('vxbr-old', { kind: 'bridge', alias: 'vxmesh:old:bridge:bridge' }));
    a.links.set('vx-old', link('vx-old', { kind: 'vxlan', master: 'vxbr-old', alias: 'vxmesh:old:flood-list:flood-list', vxlan: { vni: 1009, remote: undefined, local: '198.18.0.1', link: 'eth0', port: 4789, learning: true, group: undefined, ttl: 0 } }));
    expect(phases(computePlan(d, a)).changes).toEqual(expect.arrayContaining(['delete vx-old (old:flood-list:flood-list is no longer a peer)', 'delete old bridge vxbr-old']));
    a.links.set('veth1', link('veth1', { kind: 'veth', master: 'vxbr-old' }));
    const plan = phases(computePlan(d, a));
    expect(plan.changes).toContain('keep old bridge vxbr-old: it has ports vxmesh does not own (veth1)');
    expect(plan.changes).not.toContain('delete old bridge vxbr-old');
  });
});
