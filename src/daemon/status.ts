/** The daemon's report, as served by GET /status and printed by `vxmesh status`. */
import type { LinkHealth } from '../health/link-health.js';
import type { ProbeReport } from '../health/service.js';
import type { EbtablesBackend } from '../model/ebtables.js';
import type { MeshMode } from '../model/types.js';
import type { EvpnStatus } from '../evpn/status.js';

export type MeshState = 'running' | 'degraded' | 'stopped';

export interface LinkStatus {
  /** `segments:`: the segment this link belongs to (a peer has a link in each segment both are in). */
  segment?: string;
  peer: string;
  peerId: number;
  remote: string;
  local: string;
  vni: number;
  device: string;
  /** Set when the link's VNI comes from a vxlansetup.sh peer's list. */
  legacy: boolean;
  present: boolean;
  up: boolean;
  attached: boolean;
  mtu: number | null;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  learnedMacs: number;
  /** flood-list mode: whether the peer's all-zero fdb entry is on the device (null in other modes). */
  fdbEntry: boolean | null;
  /** Why the link is not as desired, if it is not. */
  problem: string | null;
  /** End to end through the tunnel, from the link-health probe (null: not probed). */
  health: LinkHealth | null;
  /** Encrypted mode: the link's WireGuard peer (null in clear mode). */
  wireguard: WgLinkStatus | null;
}

export interface WgLinkStatus {
  /** The first characters of the peer's public key, as `wg show` users recognise it. */
  publicKey: string;
  endpoint: string;
  /** The endpoint the interface has now (WireGuard follows a roaming peer), null when none. */
  currentEndpoint: string | null;
  present: boolean;
  handshake: 'never' | 'ok' | 'stale';
  /** Seconds since the last handshake, null when never. */
  handshakeAgeSeconds: number | null;
  rxBytes: number;
  txBytes: number;
  problem: string | null;
}

export interface EncryptionStatus {
  mode: 'none' | 'wireguard';
  implementation: 'kernel' | 'userspace' | null;
  device: string | null;
  present: boolean;
  /** This server's public key (not secret); the private key is never shown. */
  publicKey: string | null;
  listenPort: number | null;
  tunnelAddress: string | null;
  /** underlay -> WireGuard -> what VXLAN can carry -> mesh MTU. */
  mtuChain: { underlay: number; wireguard: number; fits: number; mesh: number; ok: boolean } | null;
  /** Clear VXLAN dropped: arriving at this host (input), and towards peers (output, encrypted mode). */
  clearVxlanDropped: { input: number; output: number };
  /** Packets to the WireGuard port from hosts that are not peers. */
  wireguardPortDropped: number;
  problem: string | null;
}

export interface Counters {
  reconciles: number;
  reconcileErrors: number;
  driftRepairs: number;
  configErrors: number;
  changesApplied: number;
}

export interface SegmentStatus {
  name: string;
  vni: number;
  mtu: number;
  bridge: { name: string; present: boolean; up: boolean; mtu: number | null };
  /** The segment's other members this host reaches. */
  members: string[];
  device: SingleDeviceStatus;
  multicast: MulticastStatus | null;
}

export interface SingleDeviceStatus {
  name: string;
  vni: number;
  present: boolean;
  up: boolean;
  attached: boolean;
  mtu: number | null;
  learning: boolean;
  /** The whole mesh's traffic (per-peer counters do not exist with one device). */
  rxBytes: number;
  txBytes: number;
  /** flood-list: all-zero fdb entries to peers wanted and found (hand-written ones count). */
  floodEntries: { expected: number; present: number } | null;
  /** All-zero entries on the device that vxmesh did not write (left alone). */
  foreignFloodEntries: string[];
  problem: string | null;
}

export interface MulticastStatus {
  group: string;
  underlay: string;
  ttl: number | null;
  /** From `ip maddr show dev <underlay>`; null when it could not be read. */
  joined: boolean | null;
  warning: string;
}

export interface ReconcileReport {
  at: string;
  durationMs: number;
  trigger: string;
  changes: string[];
  errors: string[];
}

export interface StatusReport {
  /** The daemon's vxmesh version. */
  version: string;
  node: string | null;
  state: MeshState;
  /** Why the state is not `running`, one line each. */
  reasons: string[];
  /** Facts an operator must see that do not degrade the mesh (a peer's daemon is down, its data plane carries traffic). */
  warnings: string[];
  config: {
    dir: string;
    files: string[];
    loadedAt: string | null;
    lastError: string[] | null;
    /** Set when the files were invalid at start and the config in force is the last good one saved in the state directory: when it was saved. */
    fromStateDir: string | null;
    warnings: string[];
  };
  underlay: { device: string | null; address: string | null; mtu: number | null; problem: string | null };
  bridge: { name: string; present: boolean; up: boolean; mtu: number | null; ownedByVxmesh: boolean };
  mode: MeshMode;
  /** flood-list and multicast: the one device of the mesh (with `segments:`, the first segment's). */
  device: SingleDeviceStatus | null;
  /** `segments:` (docs/segments.md): each segment this host is a member of; empty without it. */
  segments: SegmentStatus[];
  /** multicast: the group, where it is joined, and whether it is. */
  multicast: MulticastStatus | null;
  /** control: evpn: BGP sessions, the VNI as zebra sees it, remote VTEPs and their MACs. */
  evpn: EvpnStatus | null;
  links: LinkStatus[];
  loopPrevention: {
    /** `none` in flood-list and multicast modes: one device needs no loop-prevention rules. */
    mode: 'ebtables' | 'isolated' | 'none';
    /** The ebtables commands in use (probed at start), or null when none works here. */
    backend: EbtablesBackend | null;
    expected: number;
    present: number;
    /** Attached per-peer ports with bridge-port isolation on (every port, in both modes). */
    isolatedPorts: number;
    problem: string | null;
  };
  /** Encryption of the underlay (docs/encryption.md). */
  encryption: EncryptionStatus;
  /** The nftables table that accepts the VXLAN port only from peer addresses. */
  ingressFilter: { enabled: boolean; present: boolean; peers: number; droppedPackets: number; problem: string | null };
  /** The link-health probe through the overlay (docs/health.md). */
  probe: ProbeReport;
  lastReconcile: ReconcileReport | null;
  counters: { reconciles: number; reconcileErrors: number; driftRepairs: number; configErrors: number; changesApplied: number };
}

export interface OperationResult {
  ok: boolean;
  operation: 'start' | 'stop' | 'restart' | 'reload';
  state: MeshState;
  changes: string[];
  errors: string[];
}

/** What the control API needs from the daemon. */
export interface MeshControl {
  status(): Promise<StatusReport>;
  start(): Promise<OperationResult>;
  stop(): Promise<OperationResult>;
  restart(): Promise<OperationResult>;
  reload(): Promise<OperationResult>;
}
