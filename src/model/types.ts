/** Plain data shared by config, planning and the kernel layer. */
import { DEFAULT_BRIDGE } from './names.js';
import { WIREGUARD_DEFAULTS, type Encryption, type WireguardSettings } from './wireguard.js';

export type LoopPrevention = 'ebtables' | 'isolated';

/**
 * per-peer: one device per remote (pair VNIs, loop prevention). flood-list and multicast:
 * one device for the whole mesh (one VNI), so a flood never re-enters another tunnel port.
 */
export type MeshMode = 'per-peer' | 'flood-list' | 'multicast' | 'evpn';
export const MESH_MODES: readonly MeshMode[] = ['per-peer', 'flood-list', 'multicast', 'evpn'];

/**
 * static: the peers file is the membership. evpn: BGP EVPN through FRR (zebra installs the
 * remote VTEPs and MACs); the mesh then has the one-device shape, `mode` 'evpn'.
 */
export type ControlPlane = 'static' | 'evpn';

export interface BgpSettings {
  asn: number;
  /** Undefined: this server's underlay IPv4 address. */
  routerId: string | undefined;
  neighbors: string[];
  /** FRR's pathspace (`-N <name>`); undefined: the host's one FRR. */
  frrPathspace: string | undefined;
}

export interface Location {
  file: string;
  line: number;
  col: number;
}

export interface MeshSettings {
  bridge: string;
  mtu: number;
  port: number;
  vniBase: number;
  loopPrevention: LoopPrevention;
  ingressFilter: boolean;
  mode: MeshMode;
  /** The one VNI of the flood-list and multicast modes (required there). */
  vni: number | undefined;
  /** The one device of the flood-list and multicast modes. */
  device: string;
  /** Multicast mode: the group floods go to, and the TTL of those packets. */
  group: string | undefined;
  ttl: number | undefined;
  probe: ProbeSettings;
  /** `wireguard`: every VXLAN packet travels inside WireGuard (docs/encryption.md). */
  encryption: Encryption;
  wireguard: WireguardSettings;
  control: ControlPlane;
  /** Set in evpn control (required there). */
  bgp: BgpSettings | undefined;
}

export interface ProbeSettings {
  enabled: boolean;
  intervalMs: number;
  port: number;
  /** Mesh key for HMAC-authenticated probes; undefined: probes are not authenticated. */
  keyFile: string | undefined;
}

export interface Peer {
  name: string;
  id: number;
  address: string;
  family: 4 | 6;
  /** Underlay device on that peer's own host. */
  dev?: string;
  /** Set when the peer still runs vxlansetup.sh: its REMOTEIPS in its order. */
  legacy?: { remotes: string[] };
  /** Its WireGuard public key (base64); required in encrypted mode. */
  publicKey?: string;
  where: PeerLocations;
}

/** Where each part of a peer entry stands, so errors can point at it. */
export interface PeerLocations {
  /** `peers[n]` within its file. */
  field: string;
  item: Location;
  name: Location;
  id: Location;
  address: Location;
  remotes: Location[];
  /** Where `public_key` is, or the entry when it has none. */
  publicKey: Location;
}

/**
 * One isolated L2 segment of `segments:` (docs/segments.md): its own VNI, bridge and VXLAN
 * device on every member, in the mesh's one-device mode.
 */
export interface Segment {
  name: string;
  vni: number;
  mtu: number;
  bridge: string;
  device: string;
  /** Multicast mode: this segment's group (default `mesh.group`, shared by every segment). */
  group: string | undefined;
  /** Peer names it spans; undefined: every peer. */
  members: string[] | undefined;
  where: SegmentLocations;
}

export interface SegmentLocations {
  /** `segments[n]` within its file. */
  field: string;
  item: Location;
  name: Location;
  vni: Location;
  bridge: Location;
  device: Location;
  members: Location[];
}

export interface Config {
  mesh: MeshSettings;
  peers: Peer[];
  /** `segments:`; undefined: the one segment of `mesh.bridge`, `mesh.device`, `mesh.vni` (as before segments). */
  segments?: Segment[];
  /** Own node name from a drop-in's `node:` (the CLI's --node wins over it). */
  node?: string;
  files: string[];
  /** Facts that are not errors but an operator must know (legacy links that rely on learning). */
  warnings: string[];
}

export const MESH_DEFAULTS: MeshSettings = {
  bridge: DEFAULT_BRIDGE,
  mtu: 1450,
  port: 4789,
  vniBase: 100000,
  loopPrevention: 'ebtables',
  ingressFilter: true,
  probe: { enabled: true, intervalMs: 10_000, port: 7790, keyFile: undefined },
  mode: 'per-peer',
  vni: undefined,
  device: 'vxlan0',
  group: undefined,
  ttl: undefined,
  encryption: 'none',
  wireguard: WIREGUARD_DEFAULTS,
  control: 'static',
  bgp: undefined,
};

/** Bytes VXLAN adds on the underlay: outer IP + UDP + VXLAN + inner Ethernet. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;

export const MAX_VNI = 0xffffff;
export const IFNAMSIZ_MAX = 15;
