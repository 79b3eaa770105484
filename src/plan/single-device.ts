/**
 * The flood-list and multicast modes: one VXLAN device for the whole mesh, on the bridge, with
 * one VNI. flood-list replicates floods to every remote through one all-zero fdb entry each
 * (head-end replication, as ifupdown2 and Proxmox SDN do); multicast sends them to a group the
 * underlay routes. Unicast is learned in both. One device means a flood never re-enters another
 * tunnel port, so neither mode needs loop-prevention rules. `control: evpn` has the same shape
 * without learning and without a flood list of vxmesh's: zebra owns that device's fdb entries.
 */
import { OWNER_PREFIX, ZERO_MAC, segmentAlias } from '../model/names.js';
import { noPortAddressLines } from './port-address.js';
import { isOwnedDevice, ownerOf, type ActualState, type LinkInfo } from '../model/state.js';
import { VXLAN_OVERHEAD, type Config, type Peer } from '../model/types.js';
import type { SegmentShape } from './segments.js';

export interface SingleDevice {
  /** evpn: no flood list of vxmesh's; zebra installs the remote VTEPs and MACs (src/evpn/). */
  mode: 'flood-list' | 'multicast' | 'evpn';
  device: string;
  vni: number;
  local: string;
  underlay: string;
  port: number;
  mtu: number;
  alias: string;
  /** flood-list: one all-zero fdb entry per remote; multicast: none (floods go to the group). */
  floodList: string[];
  group: string | undefined;
  ttl: number | undefined;
  /** The remote peers it reaches (same address family as this host). */
  peers: Peer[];
}

/**
 * Pure: the one device of a segment (the mesh's one segment, or one of `segments:`), as this
 * host should have it: it reaches the segment's other members of this host's address family.
 */
export function computeSingleDevice(config: Config, self: Peer, underlay: string, local: string, remoteOf: (p: Peer) => string, segment: SegmentShape): SingleDevice {
  const { mesh } = config;
  const mode = mesh.mode === 'multicast' || mesh.mode === 'evpn' ? mesh.mode : 'flood-list';
  const members = segment.members ? new Set(segment.members) : undefined;
  const peers = config.peers.filter((p) => p !== self && p.family === self.family && (!members || members.has(p.name))).sort((a, b) => a.id - b.id);
  return {
    mode,
    device: segment.device,
    vni: segment.vni,
    local,
    underlay,
    port: mesh.port,
    mtu: segment.mtu,
    // The mesh's one segment keeps the alias it had before segments (an upgrade changes nothing).
    alias: segment.scoped ? segmentAlias(segment.name, mode) : `${OWNER_PREFIX}${mode}`,
    floodList: mode === 'flood-list' ? peers.map(remoteOf) : [],
    group: mode === 'multicast' ? segment.group : undefined,
    ttl: mode === 'multicast' ? mesh.ttl : undefined,
    peers,
  };
}

/** What the single-device planner writes into: the ip and bridge batches of a plan. */
export interface SingleDevicePlan {
  pre: string[];
  fdb: string[];
  post: string[];
  changes: string[];
  blocked: string[];
}

/**
 * Pure: create, recreate or update the one device, keep its flood list (only the difference is
 * written: a peer added is one `fdb append`), and attach it, unless per-peer tunnel ports are
 * still there (`tunnelPortsLeft`): then it waits unattached until they are gone, so no flood can
 * go from it into a per-peer port that has no loop-prevention rule for it.
 */
export function planSingleDevice(plan: SingleDevicePlan, d: SingleDevice, actual: ActualState, bridge: string | undefined, tunnelPortsLeft: boolean, lower?: { device: string; mtu: number }): void {
  const a = actual.links.get(d.device);
  if (a && !isOwnedDevice(a)) {
    plan.blocked.push(`${d.device} exists and is not managed by vxmesh (alias ${JSON.stringify(a.alias ?? '')}); the ${d.mode} device is not made`);
    return;
  }
  const reason = a ? recreateReason(a, d) : undefined;
  const mtu = singleDeviceMtu(d, actual, lower);
  if (!a || reason) {
    if (a) plan.pre.push(`link del dev ${d.device}`);
    plan.pre.push(`link add name ${d.device} mtu ${mtu} type vxlan ${deviceArgs(d)}`, `link set dev ${d.device} alias ${d.alias}`, ...noPortAddressLines(d.device, actual));
    for (const r of d.floodList) plan.fdb.push(floodLine('append', d, r));
    plan.changes.push(`${a ? 'recreate' : 'create'} ${describe(d)}${reason ? `: ${reason}` : ''}`);
  } else {
    updateInPlace(plan, a, d, mtu);
  }
  if (!bridge || tunnelPortsLeft) return;
  const fresh = !a || reason !== undefined;
  if (fresh || a.master !== bridge) {
    plan.post.push(`link set dev ${d.device} master ${bridge}`, ...evpnPortLines(d), `link set dev ${d.device} up`);
    plan.changes.push(`attach ${d.device} to ${bridge}`);
    return;
  }
  if (d.mode === 'evpn' && (a.portLearning !== false || a.neighSuppress !== true)) {
    plan.post.push(...evpnPortLines(d));
    plan.changes.push(`set ${d.device} port learning off, neigh_suppress on`);
  }
  if (!a.up) {
    plan.post.push(`link set dev ${d.device} up`);
    plan.changes.push(`bring ${d.device} up`);
  }
}

/**
 * EVPN's bridge port: the bridge learns no MAC behind the tunnel (zebra installs them from
 * type-2 routes) and answers ARP/ND for remote hosts itself from the neighbour entries zebra
 * installs, instead of flooding the request to every VTEP.
 */
function evpnPortLines(d: SingleDevice): string[] {
  return d.mode === 'evpn' ? [`link set dev ${d.device} type bridge_slave learning off neigh_suppress on`] : [];
}

function deviceArgs(d: SingleDevice): string {
  const flood = d.group ? `group ${d.group}${d.ttl ? ` ttl ${d.ttl}` : ''}` : '';
  // EVPN: the device learns nothing from the wire; zebra's extern_learn entries say where MACs are.
  return `id ${d.vni} ${flood ? `${flood} ` : ''}local ${d.local} dev ${d.underlay} dstport ${d.port} ${d.mode === 'evpn' ? 'nolearning' : 'learning'}`;
}

function floodLine(op: 'append' | 'del', d: SingleDevice, remote: string): string {
  return `fdb ${op} ${ZERO_MAC} dev ${d.device} dst ${remote} via ${d.underlay}`;
}

function describe(d: SingleDevice): string {
  const flood = d.group ? `group ${d.group} on ${d.underlay}` : d.mode === 'evpn' ? 'remote VTEPs from BGP' : `flood list of ${d.floodList.length} remotes`;
  return `${d.mode} device ${d.device} (vni ${d.vni}, ${flood})`;
}

/** The mesh MTU, or less when the underlay cannot carry it (as for per-peer devices). */
function singleDeviceMtu(d: SingleDevice, actual: ActualState, lower?: { device: string; mtu: number }): number {
  const underMtu = lower?.device === d.underlay ? lower.mtu : actual.links.get(d.underlay)?.mtu;
  return underMtu !== undefined ? Math.min(d.mtu, underMtu - VXLAN_OVERHEAD[d.local.includes(':') ? 6 : 4]) : d.mtu;
}

/** Why the existing device must be made again: the kernel changes none of these in place. */
function recreateReason(a: LinkInfo, d: SingleDevice): string | undefined {
  const v = a.vxlan;
  if (!v) return 'not a vxlan device';
  if (v.remote !== undefined) return `was the per-peer device to ${v.remote}`;
  if (v.vni !== d.vni) return `vni ${v.vni} -> ${d.vni}`;
  if (v.port !== d.port) return `port ${v.port} -> ${d.port}`;
  if (v.link !== d.underlay) return `underlay ${v.link ?? 'none'} -> ${d.underlay}`;
  if (v.group !== d.group) return `group ${v.group ?? 'none'} -> ${d.group ?? 'none'}`;
  if (d.group && v.ttl !== (d.ttl ?? 0)) return `ttl ${v.ttl} -> ${d.ttl ?? 'inherit'}`;
  if (v.local !== d.local) return `local ${v.local ?? 'none'} -> ${d.local}`;
  if (d.mode === 'evpn' ? v.learning : !v.learning) return d.mode === 'evpn' ? 'learning on' : 'learning off';
  return undefined;
}

function updateInPlace(plan: SingleDevicePlan, a: LinkInfo, d: SingleDevice, mtu: number): void {
  if (d.mode === 'flood-list') {
    const all = new Set(a.defaultDsts ?? []);
    const own = new Set(a.ownDefaultDsts ?? []);
    // A peer already reached by a hand-written entry gets no second one (it would get every flood twice).
    const add = d.floodList.filter((r) => !all.has(r));
    const wanted = new Set(d.floodList);
    const drop = [...own].filter((r) => !wanted.has(r));
    for (const r of add) plan.fdb.push(floodLine('append', d, r));
    for (const r of drop) plan.fdb.push(floodLine('del', d, r));
    if (add.length) plan.changes.push(`add ${add.join(', ')} to ${d.device}'s flood list`);
    if (drop.length) plan.changes.push(`remove ${drop.join(', ')} from ${d.device}'s flood list`);
  }
  if (a.mtu !== mtu) {
    plan.pre.push(`link set dev ${d.device} mtu ${mtu}`);
    plan.changes.push(`set ${d.device} mtu ${a.mtu} -> ${mtu}${mtu < d.mtu ? ` (the underlay cannot carry ${d.mtu})` : ''}`);
  }
  if (a.alias !== d.alias) {
    plan.pre.push(`link set dev ${d.device} alias ${d.alias}`);
    plan.changes.push(`mark ${d.device} as the ${d.mode} device`);
  }
}

/** Per-peer (and shared legacy) ports a mode switch has not removed yet; another segment's device is none. */
export function tunnelPortsLeft(actual: ActualState): boolean {
  for (const l of actual.links.values()) if (l.kind === 'vxlan' && ownerOf(l, { roles: ['peer', 'shared'] })) return true;
  return false;
}

/** A flood-list or multicast device is still there (per-peer ports must not join the bridge beside it). */
export function singleDeviceLeft(actual: ActualState): boolean {
  for (const l of actual.links.values()) {
    if (l.kind === 'vxlan' && ownerOf(l, { roles: ['flood-list', 'multicast', 'evpn'] })) return true;
  }
  return false;
}
