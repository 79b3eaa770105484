import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';
import { IpMonitorFilter } from '../../src/kernel/monitor-filter.js';
import { watchedInterfaces } from '../../src/plan/watched-interfaces.js';
import { emptyHost, link } from '../helpers/kernel-state.js';

// Lines as `ip monitor link address` prints them (captured in a namespace: a veth made, put on a
// bridge, given addresses, deleted).
const VETH_CHURN = [
  '3: vc1@p1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default ',
  '    link/ether c2:b7:48:c0:b7:d5 brd ff:ff:ff:ff:ff:ff',
  'Deleted 3: vc1    inet6 fe80::c0b7:48ff:fec0:b7d5/64 scope link tentative ',
  '       valid_lft forever preferred_lft forever',
  'Deleted 3: vc1@NONE: <BROADCAST,MULTICAST> mtu 1500 master br9 state DOWN ',
  '2: p1@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default ',
];

describe('which ip monitor lines wake a reconcile', () => {
  it('before the first read of the kernel every record matters (continuation lines never do)', () => {
    const f = new IpMonitorFilter();
    expect(VETH_CHURN.map((l) => f.matters(l))).toEqual([true, false, true, false, true, true]);
  });

  it('an unrelated veth coming and going matters not; the watched devices and routable addresses do', () => {
    const f = new IpMonitorFilter();
    f.watch(['vxbr0', 'vxlan2', 'eth0']);
    expect(VETH_CHURN.filter((l) => f.matters(l))).toEqual([]);
    expect(f.matters('Deleted 7: vxlan2@eth0: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue master vxbr0 state DOWN ')).toBe(true);
    expect(f.matters('4: vxbr0: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN group default event FEATURE CHANGE ')).toBe(true);
    expect(f.matters('Deleted 2: eth0    inet 198.18.0.1/24 scope global eth0')).toBe(true);
    // The underlay address moving to another interface (DHCP, a re-plumbed NIC).
    expect(f.matters('9: eth1    inet 198.18.0.7/24 scope global eth1')).toBe(true);
    expect(f.matters('9: eth1    inet6 2001:db8::7/64 scope global ')).toBe(true);
    expect(f.matters('9: eth1    inet6 fe80::1/64 scope link ')).toBe(false);
    // A shape this filter does not know is not dropped.
    expect(f.matters('[LINK]3: vc1@p1: <UP>')).toBe(true);
    f.watch(undefined);
    expect(f.matters(VETH_CHURN[0]!)).toBe(true);
  });

  it('watches the bridge, the wanted devices, the underlay and whatever vxmesh still owns', () => {
    const r = parseConfig([{ path: 'peers.yaml', text: 'peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\n  - { name: c, id: 3, address: 198.18.0.3 }\n' }]);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    const self = findSelf(r.config, undefined, new Map([['198.18.0.1', 'eth0']]));
    if (!self.ok) throw new Error(self.reason);
    const desired = computeDesired(r.config, self.self, self.underlay);
    const actual = emptyHost();
    actual.links.set('vxlan9', link('vxlan9', { kind: 'vxlan', alias: 'vxmesh:old' }));
    actual.links.set('vc1', link('vc1', { kind: 'veth' }));
    expect(watchedInterfaces(desired, actual)).toEqual(['eth0', 'vxbr0', 'vxlan2', 'vxlan3', 'vxlan9']);
    expect(watchedInterfaces(undefined, actual)).toBeUndefined();
    expect(watchedInterfaces(desired, undefined)).toBeUndefined();
  });
});
