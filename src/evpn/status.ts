/**
 * The control plane as status shows it (control: evpn): BGP sessions, the VNI as zebra sees
 * it, remote VTEPs and the MACs behind each, from three vtysh JSON reads. Pure.
 */
import { compareAddr } from '../model/state.js';
import type { Peer } from '../model/types.js';

/** What vtysh printed for each read (undefined: that read failed), and why the reads failed. */
export interface EvpnRead {
  summary: string | undefined;
  vni: string | undefined;
  macs: string | undefined;
  error: string | undefined;
}

export interface BgpSession {
  neighbor: string;
  state: string;
  /** Time in the current state (Established: the session's age), as bgpd counts it. */
  uptimeMs: number | null;
  /** EVPN routes received from this neighbour. */
  prefixesReceived: number | null;
  /** Times the session came up: the same count across a config change means no reset. */
  established: number | null;
}

export interface VtepStatus {
  address: string;
  /** Where vxmesh knows it from: zebra's remote VTEP list (BGP type-3 routes). */
  source: 'bgp';
  macs: number;
  /** The configured peer at this address, if one is. */
  peer: string | null;
}

export interface EvpnStatus {
  pathspace: string | null;
  /** Why the control plane could not be read (FRR down, vtysh missing). */
  problem: string | null;
  sessions: BgpSession[];
  vni: { vni: number; device: string | null; localMacs: number; remoteVteps: number } | null;
  vteps: VtepStatus[];
  /** Configured peers (besides this server) BGP has not heard from: no VTEP at their address. */
  silentPeers: string[];
}

function json(text: string | undefined): any {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** Pure: the reads as status. `peers` are the configured ones other than this server. */
export function evpnStatus(read: EvpnRead, vni: number, pathspace: string | undefined, peers: Peer[]): EvpnStatus {
  const summary = json(read.summary);
  const sessions: BgpSession[] = Object.entries((summary?.peers ?? {}) as Record<string, any>)
    .map(([neighbor, p]) => ({ neighbor, state: String(p.state ?? 'unknown'), uptimeMs: num(p.peerUptimeMsec), prefixesReceived: num(p.pfxRcd), established: num(p.connectionsEstablished) }))
    .sort((a, b) => compareAddr(a.neighbor, b.neighbor));
  const v = json(read.vni)?.[String(vni)];
  const macs = Object.values((json(read.macs)?.[String(vni)]?.macs ?? {}) as Record<string, { type?: string; remoteVtep?: string }>);
  const perVtep = new Map<string, number>();
  for (const m of macs) if (m.type === 'remote' && m.remoteVtep) perVtep.set(m.remoteVtep, (perVtep.get(m.remoteVtep) ?? 0) + 1);
  const remote: string[] = Array.isArray(v?.remoteVteps) ? (v.remoteVteps as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const byAddress = new Map(peers.map((p) => [p.address, p.name]));
  const vteps = [...new Set(remote)].sort(compareAddr).map((address) => ({ address, source: 'bgp' as const, macs: perVtep.get(address) ?? 0, peer: byAddress.get(address) ?? null }));
  const heard = new Set(vteps.map((t) => t.address));
  let problem = read.error ?? null;
  if (!problem && summary && sessions.length === 0) problem = 'bgpd has no EVPN neighbour';
  if (!problem && read.vni !== undefined && !v) problem = `zebra does not know VNI ${vni} (is the device up and on the bridge?)`;
  return {
    pathspace: pathspace ?? null,
    problem,
    sessions,
    vni: v ? { vni, device: typeof v.vxlanIf === 'string' ? v.vxlanIf : null, localMacs: macs.filter((m) => m.type === 'local').length, remoteVteps: num(v.numRemoteVteps) ?? remote.length } : null,
    vteps,
    silentPeers: peers.filter((p) => !heard.has(p.address)).map((p) => p.name),
  };
}
