/**
 * What the kernel has, as the parsers read it (kernel/) and planning and status use it
 * (plan/, daemon/). Plain data and pure helpers only.
 */
import type { WireguardState } from './wireguard.js';
import type { FrrState } from './frr.js';
import { isOwnedDeviceName, isSafeIfname, parseOwner, type Owner, type OwnerRole } from './names.js';

export interface VxlanInfo {
  vni: number;
  remote: string | undefined;
  local: string | undefined;
  link: string | undefined;
  port: number;
  learning: boolean;
  /** Multicast group floods go to (multicast mode), and the TTL of its packets (0: inherit). */
  group: string | undefined;
  ttl: number;
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  kind: string | undefined;
  up: boolean;
  mtu: number;
  master: string | undefined;
  alias: string | undefined;
  vxlan: VxlanInfo | undefined;
  /** Default FDB destinations (flood list) of a VXLAN device without a fixed remote. */
  defaultDsts?: string[];
  /** The part of `defaultDsts` vxmesh wrote (marked `via <underlay>`). */
  ownDefaultDsts?: string[];
  /** Learned (non-permanent) MACs per remote, on a device without a fixed remote. */
  learnedByDst?: Map<string, number>;
  /** Bridge-port isolation, when the link is a bridge port. */
  isolated: boolean | undefined;
  /** The bridge port's `learning` and `neigh_suppress` flags, when the link is a bridge port (EVPN sets both). */
  portLearning?: boolean | undefined;
  neighSuppress?: boolean | undefined;
  addresses: string[];
  /** Prefix length of each address, where the kernel said (planning replaces a probe address of the wrong length). */
  prefixLens?: Map<string, number>;
  stats: { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number };
}

export interface EbtablesState {
  /** False when ebtables cannot be run (missing binary, no kernel support). */
  available: boolean;
  error: string | undefined;
  chainExists: boolean;
  /** Rules of the vxmesh chain as ebtables-save prints them, without "-A CHAIN ". */
  chain: string[];
  /** How many times FORWARD jumps to the vxmesh chain with our gate rule. */
  jumps: number;
  /** A FORWARD rule before the jump that could accept VXLAN-to-VXLAN frames unchecked. */
  jumpShadowedBy?: string | undefined;
}

/** The ingress filter as wanted: the VXLAN port, open only to these peer addresses. */
export interface IngressDesired {
  port: number;
  /** vxmesh's own VXLAN addresses (and its multicast group): the filter guards only these. */
  local?: string[];
  peers4: string[];
  peers6: string[];
  /**
   * Encrypted mode: the WireGuard port opens only to the peers, the VXLAN port only to tunnel
   * addresses through the WireGuard interface, and clear VXLAN towards a peer is dropped on output.
   */
  wireguard?: { port: number; device: string; range: string; tunnel: string };
}

export interface IngressState {
  /** False when nft cannot be run. */
  available: boolean;
  error: string | undefined;
  present: boolean;
  peers4: string[];
  peers6: string[];
  /** Each rule of the input chain reduced to "port saddr-set verdict", to detect tampering. */
  rules: string[];
  dropped: number;
  droppedBytes: number;
  /** Rules of the output chain (encrypted mode), reduced like `rules`. */
  outputRules?: string[];
  /** Clear VXLAN packets the output chain dropped (encrypted mode: they would have left unencrypted). */
  clearOut?: number;
  /** Packets to the WireGuard port from hosts that are not peers. */
  wgDropped?: number;
}

/**
 * Whether IPv6 is off, as the kernel says in /proc/sys/net/ipv6 (per network namespace).
 * `kernel: false` when the kernel has no IPv6 at all (ipv6.disable=1).
 */
export interface Ipv6State {
  kernel: boolean;
  allDisabled: boolean;
  /** What a new device (a bridge about to be created) gets. */
  defaultDisabled: boolean;
  /** disable_ipv6 of the named devices that exist. */
  disabled: Map<string, boolean>;
}

export interface ActualState {
  links: Map<string, LinkInfo>;
  ebtables: EbtablesState;
  ingress: IngressState;
  /** Where IPv6 is off (decides the link-health probe's address family); absent means usable everywhere. */
  ipv6?: Ipv6State;
  /** The WireGuard interface's settings and peers (`wg show <dev> dump`), when one was read. */
  wireguard?: WireguardState;
  /** Why `wg show` failed, when it did. */
  wireguardError?: string;
  /** control: evpn only: FRR as vtysh reads it (absent: not read, so no FRR step is planned). */
  frr?: FrrState;
}

/** Whether IPv6 works on `device` (or would on a device created now). */
export function ipv6UsableOn(s: Ipv6State, device: string): boolean {
  if (!s.kernel || s.allDisabled) return false;
  return !(s.disabled.get(device) ?? s.defaultDisabled);
}

/** Which owned objects a question is about: a segment, some roles (absent: any). */
export interface OwnerScope {
  segment?: string;
  roles?: readonly OwnerRole[];
}

/**
 * The one ownership test, for plan, teardown, observe and status: who owns `l`, or undefined
 * when it is foreign or outside `scope`. The alias carries the mark; a name outside vxmesh's
 * alphabet would corrupt the batch line that deletes it, so such an object is foreign and left
 * alone whatever its alias says.
 */
export function ownerOf(l: LinkInfo, scope: OwnerScope = {}): Owner | undefined {
  if (!isSafeIfname(l.name)) return undefined;
  const o = parseOwner(l.alias, l.kind, l.vxlan?.remote !== undefined);
  if (!o) return undefined;
  // The alias alone proves little (anyone can set it): per-peer and shared devices also carry
  // the names vxmesh gives them. Only the one device of the one-device modes is named by config.
  if ((o.role === 'peer' || o.role === 'shared') && !isOwnedDeviceName(l.name)) return undefined;
  if (scope.segment !== undefined && o.segment !== scope.segment) return undefined;
  if (scope.roles && !scope.roles.includes(o.role)) return undefined;
  return o;
}

const DEVICE_ROLES: readonly OwnerRole[] = ['peer', 'shared', 'flood-list', 'multicast', 'evpn'];

/** A VXLAN device vxmesh made (any role but the bridge), in `segment` when given. */
export function isOwnedDevice(l: LinkInfo, segment?: string): boolean {
  return l.kind === 'vxlan' && ownerOf(l, { roles: DEVICE_ROLES, ...(segment === undefined ? {} : { segment }) }) !== undefined;
}

/** The WireGuard interface vxmesh made. */
export function isOwnedWireguard(l: LinkInfo): boolean {
  return (l.kind === 'wireguard' || l.kind === 'tun') && ownerOf(l, { roles: ['wireguard'] }) !== undefined;
}

/** A bridge vxmesh made, in `segment` when given (any segment's when not). */
export function isOwnedBridge(l: LinkInfo, segment?: string): boolean {
  return l.kind === 'bridge' && ownerOf(l, { roles: ['bridge'], ...(segment === undefined ? {} : { segment }) }) !== undefined;
}

/** The underlay the owned VXLAN devices use now: where the mesh was before an address change. */
export function currentUnderlay(links: Map<string, LinkInfo>): string | undefined {
  for (const l of links.values()) if (l.vxlan?.link && isOwnedDevice(l) && isSafeIfname(l.vxlan.link)) return l.vxlan.link;
  return undefined;
}

/** Local unicast addresses and the device holding each. */
export function localAddresses(links: Map<string, LinkInfo>): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of links.values()) for (const a of l.addresses) out.set(a, l.name);
  return out;
}

/** Set elements in a stable order, so desired and actual compare as lists. */
export function compareAddr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
