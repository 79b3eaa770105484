import { isOwnedDeviceName } from '../model/names.js';
import { IFNAMSIZ_MAX, type Location, type MeshSettings, type Peer, type Segment } from '../model/types.js';
import type { MeshLocations } from './issue.js';
import { isMulticast } from './validate-mode.js';

type Report = (where: Location, field: string, message: string) => void;

/**
 * `segments:` (docs/segments.md): several isolated L2 segments, each a bridge and a VXLAN device
 * of its own in the mesh's one-device mode. Per-peer mode is refused: it would need a device
 * per remote per segment (n-1 times s ports, each with loop rules) and a pair-VNI range per
 * segment, where flood-list gives the same isolation with one device per segment.
 */
export function validateSegments(mesh: MeshSettings, peers: Peer[], segments: Segment[] | undefined, where: MeshLocations, err: Report, warnings: string[]): void {
  if (!segments) return;
  const first = segments[0]!;
  if (mesh.mode === 'per-peer') {
    err(where.mode ?? first.where.item, where.mode ? 'mesh.mode' : first.where.field, 'per-peer mode cannot carry segments: it would need one device per remote in every segment (and a pair-VNI range each); use mode: flood-list (the default with segments:) or multicast');
    return;
  }
  // EVPN reports one VNI's control plane (status, doctor); per-segment VNIs there are not built yet.
  if (mesh.control === 'evpn') {
    err(where.control ?? first.where.item, where.control ? 'mesh.control' : first.where.field, 'segments with control: evpn are not supported yet (status and doctor read one VNI from FRR); use control: static with segments, or one EVPN segment with mesh.vni');
    return;
  }
  for (const key of ['vni', 'bridge', 'device'] as const) {
    if (where[key]) warnings.push(`mesh.${key} is not used with segments: (each segment has its own); ignored`);
  }
  const peerNames = new Set(peers.map((p) => p.name));
  const taken = new Map<string, string>();
  const claim = (name: string, what: string, at: Location, field: string) => {
    const prev = taken.get(name);
    if (prev) err(at, field, `"${name}" is also ${prev}`);
    else taken.set(name, what);
  };
  claim(mesh.wireguard.device, 'the WireGuard interface (mesh.wireguard.device)', first.where.item, first.where.field);
  const byVni = new Map<number, Segment>();
  const byName = new Map<string, Segment>();
  for (const s of segments) {
    const f = s.where.field;
    const prevName = byName.get(s.name);
    if (prevName) err(s.where.name, `${f}.name`, `duplicate segment name "${s.name}" (also at ${fmt(prevName.where.name)})`);
    else byName.set(s.name, s);
    const prevVni = byVni.get(s.vni);
    if (prevVni) err(s.where.vni, `${f}.vni`, `VNI ${s.vni} is also segment "${prevVni.name}"'s (at ${fmt(prevVni.where.vni)}): every segment needs its own VNI`);
    else byVni.set(s.vni, s);
    for (const [name, what, at, field] of [[s.bridge, 'bridge', s.where.bridge, 'bridge'], [s.device, 'device', s.where.device, 'device']] as const) {
      // A default name comes from the segment name: say how to fix it there.
      if (name.length > IFNAMSIZ_MAX) err(at, `${f}.${field}`, `${what} name "${name}" would be over ${IFNAMSIZ_MAX} characters (the kernel limit): give segment "${s.name}" a shorter name or set ${field}:`);
      else if (isOwnedDeviceName(name)) err(at, `${f}.${field}`, `"${name}" is a name vxmesh gives its per-peer devices`);
      else claim(name, `segment "${s.name}"'s ${what}`, at, `${f}.${field}`);
    }
    if (s.members) {
      const seen = new Set<string>();
      s.members.forEach((m, k) => {
        const at = s.where.members[k] ?? s.where.item;
        if (!peerNames.has(m)) err(at, `${f}.peers[${k}]`, `"${m}" is not a peer in the config`);
        else if (seen.has(m)) err(at, `${f}.peers[${k}]`, `"${m}" is listed twice`);
        seen.add(m);
      });
    }
    if (mesh.mode === 'multicast') {
      if (s.group === undefined) err(s.where.item, `${f}.group`, 'is required in multicast mode (set it here, or mesh.group for one group shared by every segment)');
      else if (!isMulticast(s.group)) err(s.where.item, `${f}.group`, `${s.group} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)`);
    }
  }
}

function fmt(l: Location): string {
  return `${l.file}:${l.line}:${l.col}`;
}
