import type { ActualState } from '../model/state.js';
import { portState } from './port-state.js';
import type { DesiredLink } from '../plan/desired.js';
import type { SingleDevice } from '../plan/single-device.js';
import type { LinkStatus, MulticastStatus, SingleDeviceStatus } from './status.js';

export const MULTICAST_WARNING = 'the underlay must route the group (IGMP/MLD snooping switches and routers between the servers must forward it); floods to the group reach only servers it reaches';

/** Pure: the one device of a flood-list or multicast mesh as the kernel has it. */
export function singleDeviceStatus(d: SingleDevice, actual: ActualState, bridge: string, joinedGroups: string[] | undefined): { device: SingleDeviceStatus; multicast: MulticastStatus | null } {
  const a = actual.links.get(d.device);
  const all = new Set(a?.defaultDsts ?? []);
  const own = new Set(a?.ownDefaultDsts ?? []);
  const wanted = new Set(d.floodList);
  const floodEntries = d.mode === 'flood-list' ? { expected: d.floodList.length, present: d.floodList.filter((r) => all.has(r)).length } : null;
  let problem: string | null = null;
  if (!a) problem = 'missing';
  else if (a.vxlan?.vni !== d.vni) problem = `VNI ${a.vxlan?.vni ?? 'none'}, want ${d.vni}`;
  else if (a.master !== bridge) problem = `not attached to ${bridge}`;
  else if (!a.up) problem = 'down';
  else if (floodEntries && floodEntries.present < floodEntries.expected) problem = `${floodEntries.expected - floodEntries.present} of ${floodEntries.expected} flood-list entries missing`;
  const joined = d.group === undefined || joinedGroups === undefined ? null : joinedGroups.includes(d.group);
  if (!problem && joined === false) problem = `group ${d.group} not joined on ${d.underlay}`;
  return {
    device: {
      name: d.device,
      vni: d.vni,
      ...portState(a, bridge),
      learning: a?.vxlan?.learning ?? false,
      rxBytes: a?.stats.rxBytes ?? 0,
      txBytes: a?.stats.txBytes ?? 0,
      floodEntries,
      foreignFloodEntries: [...all].filter((r) => !own.has(r) && !wanted.has(r)),
      problem,
    },
    multicast: d.group === undefined ? null : { group: d.group, underlay: d.underlay, ttl: d.ttl ?? null, joined, warning: MULTICAST_WARNING },
  };
}

/**
 * Pure: one peer of a flood-list or multicast mesh: its flood entry and the MACs learned behind
 * it; the state of the one device it shares with every peer is `singleDeviceStatus`'s. `floodDsts` is the device's flood list as a set (made once: 2000 peers would make a list
 * search per peer quadratic).
 */
export function singleLinkStatus(l: DesiredLink, d: SingleDevice, actual: ActualState, bridge: string, floodDsts: ReadonlySet<string>): Omit<LinkStatus, 'health' | 'wireguard'> {
  const a = actual.links.get(d.device);
  const fdbEntry = d.mode === 'flood-list' ? floodDsts.has(l.remote) : null;
  // The device's own faults (missing, detached, down) are the device's problem, reported once.
  const problem = a && fdbEntry === false ? 'fdb entry missing' : null;
  return {
    peer: l.peer,
    peerId: l.peerId,
    remote: l.remote,
    local: l.local,
    vni: l.vni,
    device: l.device,
    legacy: false,
    ...portState(a, bridge),
    // The device's counters are the whole mesh's; per peer only the learned MACs are known.
    rxBytes: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    learnedMacs: a?.learnedByDst?.get(l.remote) ?? 0,
    fdbEntry,
    problem,
  };
}
