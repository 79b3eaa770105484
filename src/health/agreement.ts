import { createHash } from 'node:crypto';
import type { Config, Peer } from '../model/types.js';
import type { ProbeInfo } from './wire.js';

export type AgreeValue = string | number | boolean | null;

/** What this daemon runs with, as far as a peer can compare it. */
export interface ConfigFacts {
  mtu: number;
  port: number;
  peers: number;
  peersDigest: string;
  /** Protocol 1's digest of the mesh settings: kept for peers that speak only protocol 1. */
  meshDigest: string;
  /** The settings both ends of a link must share, by name (AGREEMENT_FIELDS). */
  agree: Record<string, AgreeValue>;
}

/**
 * The mesh settings protocol 1 hashed into `meshDigest`, frozen: a setting added later is not
 * in it, so a protocol 1 peer still agrees with us on everything it knows.
 */
const MESH_DIGEST_V1 = ['bridge', 'device', 'ingressFilter', 'loopPrevention', 'mode', 'mtu', 'port', 'group', 'ttl', 'vni', 'vniBase'] as const;

/**
 * The settings that must be the same on both ends of a link, named as in status. An explicit
 * list, not "every setting": a new setting joins it (with its default) and a peer that does
 * not send it yet is not in disagreement. Per-server parts (`node:`, the key file's path, the
 * probe interval) are left out: they differ by design.
 */
export const AGREEMENT_FIELDS: readonly { name: string; get(c: Config): AgreeValue | undefined }[] = [
  { name: 'mtu', get: (c) => c.mesh.mtu },
  { name: 'port', get: (c) => c.mesh.port },
  { name: 'vni_base', get: (c) => c.mesh.vniBase },
  { name: 'mode', get: (c) => c.mesh.mode },
  { name: 'vni', get: (c) => c.mesh.vni },
  { name: 'group', get: (c) => c.mesh.group },
  { name: 'ttl', get: (c) => c.mesh.ttl },
  { name: 'loop_prevention', get: (c) => c.mesh.loopPrevention },
  { name: 'ingress_filter', get: (c) => c.mesh.ingressFilter },
  { name: 'bridge', get: (c) => c.mesh.bridge },
  { name: 'device', get: (c) => c.mesh.device },
  { name: 'probe.enabled', get: (c) => c.mesh.probe.enabled },
  { name: 'probe.port', get: (c) => c.mesh.probe.port },
  { name: 'encryption', get: (c) => c.mesh.encryption },
  { name: 'wireguard.port', get: (c) => c.mesh.wireguard.port },
  { name: 'wireguard.tunnel_range', get: (c) => c.mesh.wireguard.tunnelRange },
];

/**
 * Digests of the effective config: the peers (sorted by id, so the order in the file does not
 * matter) and protocol 1's mesh digest, and the agreement fields' values.
 */
export function computeConfigFacts(config: Config): ConfigFacts {
  const peers = [...config.peers]
    .sort((a, b) => a.id - b.id)
    .map((p: Peer) => [p.id, p.name, p.address, p.dev ?? null, p.legacy?.remotes ?? null]);
  const m = config.mesh as unknown as Record<string, unknown>;
  // As protocol 1 built it: set settings only (parsed: undefined; read back from JSON: no key), sorted by key.
  const mesh = [...MESH_DIGEST_V1.map((k) => [k, m[k]] as const), ['probe', { enabled: config.mesh.probe.enabled, port: config.mesh.probe.port }] as const]
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const agree: Record<string, AgreeValue> = {};
  for (const f of AGREEMENT_FIELDS) agree[f.name] = f.get(config) ?? null;
  return {
    mtu: config.mesh.mtu,
    port: config.mesh.port,
    peers: config.peers.length,
    peersDigest: digest(peers),
    meshDigest: digest(mesh),
    agree,
  };
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** Our side of one link, to compare with what the peer answered. */
export interface OurSide extends ConfigFacts {
  peerName: string;
  vni: number;
}

/**
 * Pure: what differs between our side of a link and the peer's answer, one sentence each,
 * naming the peer ("srv3 has 7 peers, we have 6"). Empty when they agree. Only what both
 * sides know is compared: a field the peer does not send (an older protocol) is no difference.
 */
export function diffAgreement(ours: OurSide, theirs: ProbeInfo): string[] {
  const p = ours.peerName;
  const out: string[] = [];
  if (theirs.node !== p) out.push(`${p} answers as "${theirs.node}"`);
  if (theirs.vni === null) out.push(`${p} has no link to us in its config`);
  else if (theirs.vni !== ours.vni) out.push(`${p} uses VNI ${theirs.vni} for this link, we use ${ours.vni}`);
  if (theirs.mtu !== ours.mtu) out.push(`${p} uses MTU ${theirs.mtu}, we use ${ours.mtu}`);
  if (theirs.port !== ours.port) out.push(`${p} uses VXLAN port ${theirs.port}, we use ${ours.port}`);
  if (theirs.peers !== ours.peers) out.push(`${p} has ${theirs.peers} peers, we have ${ours.peers}`);
  else if (theirs.peersDigest !== ours.peersDigest) out.push(`${p}'s peers list differs from ours (both ${ours.peers} peers; names, ids or addresses differ)`);
  if (theirs.agree) {
    for (const [name, mine] of Object.entries(ours.agree)) {
      if (name === 'mtu' || name === 'port' || !(name in theirs.agree)) continue;
      const other = theirs.agree[name];
      if (other !== mine) out.push(`${p} has mesh ${name} ${show(other)}, we have ${show(mine)}`);
    }
  } else if (theirs.meshDigest !== ours.meshDigest && theirs.mtu === ours.mtu && theirs.port === ours.port) {
    out.push(`${p}'s mesh settings differ from ours (digest ${theirs.meshDigest}, ours ${ours.meshDigest})`);
  }
  return out;
}

function show(v: AgreeValue | undefined): string {
  return v === null || v === undefined ? 'unset' : String(v);
}
