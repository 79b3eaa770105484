/** The daemon's report, as served by GET /status and printed by `vxmesh status`. */

export type MeshState = 'running' | 'degraded' | 'stopped';

export interface LinkStatus {
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
  /** Why the link is not as desired, if it is not. */
  problem: string | null;
}

export interface Counters {
  reconciles: number;
  reconcileErrors: number;
  driftRepairs: number;
  configErrors: number;
  changesApplied: number;
}

export interface ReconcileReport {
  at: string;
  durationMs: number;
  trigger: string;
  changes: string[];
  errors: string[];
}

export interface StatusReport {
  node: string | null;
  state: MeshState;
  /** Why the state is not `running`, one line each. */
  reasons: string[];
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
  links: LinkStatus[];
  /** `isolatedPorts`: attached ports with bridge-port isolation on (every port, in both modes). */
  loopPrevention: { mode: 'ebtables' | 'isolated'; expected: number; present: number; isolatedPorts: number; problem: string | null };
  /** The nftables table that accepts the VXLAN port only from peer addresses. */
  ingressFilter: { enabled: boolean; present: boolean; peers: number; droppedPackets: number; problem: string | null };
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
