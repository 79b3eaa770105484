/**
 * Names of the kernel objects vxmesh owns. Planning writes them, the parsers look for them,
 * status reports them: one definition each.
 */

/** Every device vxmesh creates carries an alias with this prefix: it is how ownership is known. */
export const OWNER_PREFIX = 'vxmesh:';
/** The alias of the bridge vxmesh made. */
export const BRIDGE_ALIAS = `${OWNER_PREFIX}bridge`;
/** The mesh bridge when the config names none. */
export const DEFAULT_BRIDGE = 'vxbr0';
/** The all-zero MAC: a VXLAN device's default FDB entry, where broadcast and unknown unicast go. */
export const ZERO_MAC = '00:00:00:00:00:00';

/** Our ebtables chain, the FORWARD rule that jumps to it, and its first rule. */
export const CHAIN = 'VXMESH';
export const JUMP_RULE = `-i vxlan+ -j ${CHAIN}`;
/** First rule of the chain: anything not leaving through a VXLAN port is none of our business. */
export const GATE_RULE = '-o ! vxlan+ -j RETURN';

/** A port's rule in the chain: nothing that enters through it leaves through a VXLAN port. */
export function dropRule(port: string): string {
  return `-i ${port} -o vxlan+ -j DROP`;
}

/** vxmesh's own nftables table (family inet): the ingress filter. */
export const INGRESS_TABLE = 'vxmesh';

/** Peer names: also used in device aliases and file names, so plain characters only. */
export const PEER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function deviceName(peerId: number): string {
  return `vxlan${peerId}`;
}

/** Name of the device shared by the legacy links that use VNI `vni` on this host. */
export function sharedDeviceName(vni: number): string {
  return `vxlanv${vni}`;
}

/** The alias that marks a device as vxmesh's: the peer it leads to, or the VNI a shared device carries. */
export function ownerAlias(peer: string): string {
  return `${OWNER_PREFIX}${peer}`;
}

export function sharedAlias(vni: number): string {
  return `${OWNER_PREFIX}vni${vni}`;
}

export function isOwnedAlias(alias: string | undefined): boolean {
  return alias?.startsWith(OWNER_PREFIX) ?? false;
}

/** The segment of a mesh without `segments:`, and of every alias written before segments. */
export const DEFAULT_SEGMENT = 'default';

/** A named segment's bridge and device when the config names none (within 15 characters for names up to 10). */
export function segmentBridgeName(segment: string): string {
  return `vxbr-${segment}`;
}

export function segmentDeviceName(segment: string): string {
  return `vx-${segment}`;
}

/** The alias of a named segment's bridge or device: the scoped form parseOwner reads. */
export function segmentAlias(segment: string, role: OwnerRole): string {
  return `${OWNER_PREFIX}${segment}:${role}:${role}`;
}

/** What an owned object is to vxmesh. */
export type OwnerRole = 'bridge' | 'peer' | 'shared' | 'flood-list' | 'multicast' | 'wireguard' | 'evpn';

/** What an owned object's alias says: the segment it belongs to, its role, and its name there. */
export interface Owner {
  segment: string;
  role: OwnerRole;
  /** The peer for `peer`, `vni<N>` for `shared`, the mode for the one-device roles, `bridge`. */
  name: string;
}

const ROLES: ReadonlySet<string> = new Set<OwnerRole>(['bridge', 'peer', 'shared', 'flood-list', 'multicast', 'wireguard', 'evpn']);
const SCOPED = /^vxmesh:([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):([a-z-]+):([A-Za-z0-9][A-Za-z0-9_.-]{0,62})$/;

/**
 * Pure: who owns an object, from its alias and what the kernel says it is, or undefined for a
 * foreign object. Two forms: `vxmesh:<segment>:<role>:<name>` (for segments), and today's
 * `vxmesh:<peer>`, `vxmesh:vni<N>`, `vxmesh:flood-list`, `vxmesh:multicast`, `vxmesh:evpn`, `vxmesh:bridge`,
 * read as the default segment, so meshes made before segments are adopted as they are. Peer
 * names hold no ':' (PEER_NAME), so the forms cannot be confused. In the short form a peer may
 * be named like a role: the kernel object decides (a bridge, or a VXLAN device with no fixed
 * remote, is the role; a VXLAN device with a remote is the peer's).
 */
export function parseOwner(alias: string | undefined, kind: string | undefined, hasRemote: boolean): Owner | undefined {
  if (alias === undefined || !alias.startsWith(OWNER_PREFIX)) return undefined;
  const scoped = SCOPED.exec(alias);
  if (scoped) return ROLES.has(scoped[2]!) ? { segment: scoped[1]!, role: scoped[2] as OwnerRole, name: scoped[3]! } : undefined;
  const rest = alias.slice(OWNER_PREFIX.length);
  if (rest.includes(':') || !PEER_NAME.test(rest)) return undefined;
  const d = DEFAULT_SEGMENT;
  if (kind === 'bridge') return rest === 'bridge' ? { segment: d, role: 'bridge', name: rest } : undefined;
  // The WireGuard interface: a kernel `wireguard` link, or wireguard-go's tun device.
  if (kind === 'wireguard' || kind === 'tun') return rest === 'wireguard' ? { segment: d, role: 'wireguard', name: rest } : undefined;
  if (kind !== 'vxlan') return undefined;
  if (!hasRemote && (rest === 'flood-list' || rest === 'multicast' || rest === 'evpn')) return { segment: d, role: rest, name: rest };
  if (!hasRemote && /^vni[0-9]{1,8}$/.test(rest)) return { segment: d, role: 'shared', name: rest };
  return { segment: d, role: 'peer', name: rest };
}

/** The names vxmesh gives its VXLAN devices: `vxlan<peer id>` and `vxlanv<vni>`. */
const OWNED_DEVICE_NAME = /^vxlanv?[0-9]{1,10}$/;

/**
 * An interface name as vxmesh writes them (config-given bridge and underlay names follow the
 * same alphabet). Names read from the kernel go into `ip -batch` lines, whose parser splits
 * on white space, reads `#` as a comment and `"` as a quote: anything else is foreign.
 */
export const SAFE_IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** A name vxmesh could have given one of its VXLAN devices. */
export function isOwnedDeviceName(name: string): boolean {
  return OWNED_DEVICE_NAME.test(name);
}

export function isSafeIfname(name: string): boolean {
  return SAFE_IFNAME.test(name);
}
