import { expect } from 'vitest';
import { countArpRequests, countVxlanOnUnderlay, forwardRules, links, ns, ping, readCounter, type Lab, type Server, LAB_EBTABLES } from './lab.js';

/**
 * Every container pings every other, also with a DF 1422-byte payload, and one byte more does
 * not fit: the overlay MTU is really 1450.
 */
export async function expectAllPairsPing(lab: Lab): Promise<void> {
  for (const a of lab.containers) {
    for (const b of lab.containers) {
      if (a === b) continue;
      // Reachability, not loss: up to three echoes each (the first may wait for ARP through the
      // flood path on a loaded machine).
      expect(await ping(a, b.address, ['-c', '3', '-i', '0.2']), `${a.address} -> ${b.address}`).toBe(true);
      expect(await ping(a, b.address, ['-M', 'do', '-s', '1422', '-c', '3', '-i', '0.2']), `DF 1422 ${a.address} -> ${b.address}`).toBe(true);
    }
  }
  expect(await ping(lab.containers[0]!, lab.containers[1]!.address, ['-M', 'do', '-s', '1423'])).toBe(false);
}

/**
 * Objects vxmesh does not own on `s` (a bridge, a vxlan device on it, an ebtables rule in
 * FORWARD); returns a function that reads them back, to compare before and after.
 */
export async function addForeignObjects(s: Server): Promise<() => Promise<Record<string, unknown>>> {
  await ns(s.ns, 'ip', 'link', 'add', 'br-other', 'type', 'bridge');
  await ns(s.ns, 'ip', 'link', 'add', 'vxlan900', 'type', 'vxlan', 'id', '900', 'dstport', '4790', 'local', s.address, 'dev', 'eth0');
  await ns(s.ns, 'ip', 'link', 'set', 'vxlan900', 'master', 'br-other');
  await ns(s.ns, LAB_EBTABLES.ebtables, '-t', 'filter', '-A', 'FORWARD', '-i', 'eth9', '-j', 'DROP');
  const read = async () => {
    const l = await links(s.ns);
    return {
      bridge: l.find((x) => x.ifname === 'br-other')?.ifindex,
      vxlan: l.find((x) => x.ifname === 'vxlan900')?.ifindex,
      vxlanMaster: l.find((x) => x.ifname === 'vxlan900')?.master,
      rule: (await forwardRules(s.ns)).includes('-A FORWARD -i eth9 -j DROP'),
    };
  };
  const first = await read();
  expect(first.bridge && first.vxlan && first.vxlanMaster === 'br-other' && first.rule).toBeTruthy();
  return read;
}

/**
 * The first container ARPs for `target`, which nobody has (so the request is broadcast): each
 * other container must see every request exactly once. Returns how many were sent and how many
 * VXLAN packets crossed the underlay meanwhile.
 */
export async function expectBroadcastOnce(lab: Lab, target = '100.64.0.250'): Promise<{ sent: number; vxlan: number }> {
  const [src, ...others] = lab.containers;
  // One ARP probe, no retries: a retry sent while the counters are read would count at
  // the receivers but not in `sent`, read before them.
  await ns(src!.ns, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.mcast_solicit=1');
  let sent = 0;
  let got: number[] = [];
  // Bounded attempts: on a loaded machine the one ARP can be lost on the way to a receiver; a
  // duplicate (what this is about) is never retried away.
  for (let attempt = 0; attempt < 3; attempt++) {
    for (const c of others) await countArpRequests(c.ns, target);
    await countVxlanOnUnderlay(lab.underlay);
    await countArpRequests(src!.ns, target, 'egress');
    // A FAILED neighbour entry from the attempt before would hold the next ARP back.
    await ns(src!.ns, 'ip', 'neigh', 'flush', 'dev', 'eth0');
    await ping(src!, target);
    await new Promise((r) => setTimeout(r, 500));
    sent = await readCounter(src!.ns, 'arpcount');
    got = [];
    for (const c of others) got.push(await readCounter(c.ns, 'arpcount'));
    if (sent < 1 || got.some((n) => n > sent) || got.every((n) => n === sent)) break;
  }
  expect(sent).toBeGreaterThanOrEqual(1);
  others.forEach((c, i) => expect(got[i], `ARP requests at ${c.address}`).toBe(sent));
  return { sent, vxlan: await readCounter(lab.underlay, 'vxcount') };
}
