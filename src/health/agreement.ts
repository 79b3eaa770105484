import { createHash } from 'node:crypto';
import type { Config, Peer } from '../model/types.js';
import type { ProbeInfo } from './wire.js';

/** What this daemon runs with, as far as a peer can compare it. */
export interface ConfigFacts {
  mtu: number;
  port: number;
  peers: number;
  peersDigest: string;
  meshDigest: string;
}

/**
 * Digests of the effective config: the peers (sorted by id, so the order in the file does not
 * matter) and the mesh settings. Per-server parts (`node:`, the key file's path) are left out:
 * they differ by design.
 */
export function computeConfigFacts(config: Config): ConfigFacts {
  const peers = [...config.peers]
    .sort((a, b) => a.id - b.id)
    .map((p: Peer) => [p.id, p.name, p.address, p.dev ?? null, p.legacy?.remotes ?? null]);
  // The key file's path is local to each server (the key itself is checked by the HMAC), and
  // a different probe interval harms no link: neither makes two ends disagree.
  const { probe, ...rest } = config.mesh;
  // A setting that is not set counts as absent, whether the config was parsed (undefined) or read
  // back from the state directory's JSON (no key).
  const mesh = Object.entries({ ...rest, probe: { enabled: probe.enabled, port: probe.port } })
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    mtu: config.mesh.mtu,
    port: config.mesh.port,
    peers: config.peers.length,
    peersDigest: digest(peers),
    meshDigest: digest(mesh),
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
 * naming the peer ("srv3 has 7 peers, we have 6"). Empty when they agree.
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
  if (theirs.meshDigest !== ours.meshDigest && theirs.mtu === ours.mtu && theirs.port === ours.port) {
    out.push(`${p}'s mesh settings differ from ours (digest ${theirs.meshDigest}, ours ${ours.meshDigest})`);
  }
  return out;
}
