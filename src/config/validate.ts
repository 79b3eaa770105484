import type { ConfigIssue, MeshLocations } from './issue.js';
import { validateMode } from './validate-mode.js';
import { validateEncryption } from './validate-encryption.js';
import { validateEvpn } from './validate-evpn.js';
import { validateSegments } from './validate-segments.js';
import { pairVni } from '../model/vni.js';
import { deviceName } from '../model/names.js';
import { IFNAMSIZ_MAX, MAX_VNI, type Location, type MeshSettings, type Peer, type Segment } from '../model/types.js';

/**
 * Checks that need the whole merged config. Pushes errors to `issues` and returns
 * warnings (facts that do not stop the mesh).
 */
export function validateMesh(mesh: MeshSettings, peers: Peer[], mainFile: string, issues: ConfigIssue[], meshWhere: MeshLocations = {}, segments?: Segment[]): string[] {
  const err = (where: Location, field: string, message: string) => issues.push({ ...where, field, message });
  const warnings: string[] = [];
  const first = peers[0];
  if (!first) {
    // An empty or truncated file must never read as "remove every link".
    const evpn = mesh.control === 'evpn' ? ' (with control: evpn, list at least this server itself, e.g. in its own drop-in)' : '';
    issues.push({ file: mainFile, line: 1, col: 1, field: 'peers', message: `no peers defined (an empty peers list would tear down the mesh; refusing it)${evpn}` });
    return warnings;
  }

  const unique = <K>(key: (p: Peer) => K, what: string, loc: (p: Peer) => Location, field: string) => {
    const seen = new Map<K, Peer>();
    for (const p of peers) {
      const prev = seen.get(key(p));
      if (prev) err(loc(p), `${p.where.field}.${field}`, `duplicate ${what} ${JSON.stringify(key(p))} (also peer "${prev.name}" at ${fmt(loc(prev))})`);
      else seen.set(key(p), p);
    }
  };
  unique((p) => p.name, 'peer name', (p) => p.where.name, 'name');
  unique((p) => p.id, 'peer id', (p) => p.where.id, 'id');
  unique((p) => p.address, 'address', (p) => p.where.address, 'address');

  const segmented = segments !== undefined;
  validateMode(mesh, peers, mainFile, meshWhere, err, warnings, segmented);
  validateEncryption(mesh, peers, mainFile, meshWhere, err, warnings, segmented);
  validateEvpn(mesh, peers, mainFile, meshWhere, err, warnings, segmented);
  validateSegments(mesh, peers, segments, meshWhere, err, warnings);
  const perPeer = mesh.mode === 'per-peer';
  for (const p of perPeer ? peers : []) {
    const dev = deviceName(p.id);
    if (dev.length > IFNAMSIZ_MAX) err(p.where.id, `${p.where.field}.id`, `device name "${dev}" would be over ${IFNAMSIZ_MAX} characters`);
    if (dev === mesh.bridge) err(p.where.id, `${p.where.field}.id`, `device name "${dev}" is also the bridge name`);
  }

  const byAddress = new Map(peers.map((p) => [p.address, p]));
  for (const p of peers) {
    p.legacy?.remotes.forEach((r, k) => {
      const where = p.where.remotes[k] ?? p.where.item;
      if (!byAddress.has(r)) err(where, `${p.where.field}.legacy.remotes[${k}]`, `${r} is not the address of any peer`);
      else if (r === p.address) err(where, `${p.where.field}.legacy.remotes[${k}]`, `${r} is the peer's own address`);
    });
  }
  if (issues.length > 0) return warnings;

  // Pair VNIs grow with the ids; the largest is between the two highest-id vxmesh peers.
  const modern = peers.filter((p) => !p.legacy).sort((a, b) => b.id - a.id);
  if (perPeer && modern.length >= 2) {
    const [a, b] = modern as [Peer, Peer];
    const top = pairVni(a.id, b.id, mesh.vniBase);
    if (top > MAX_VNI) err(a.where.id, `${a.where.field}.id`, `link ${b.name}-${a.name} would get VNI ${top}, over the 24-bit limit ${MAX_VNI} (lower mesh.vni_base or the ids)`);
  }

  checkLegacyLinks(mesh, peers, err, warnings);
  const portWarning = wellKnownPortWarning(mesh);
  if (portWarning) warnings.push(portWarning);
  return warnings;
}

/**
 * UDP ports of services a server may well run or need to reach it. vxmesh's VXLAN devices
 * hold the port and, with the ingress filter on, drop whatever arrives on it from a host that
 * is not a peer: that service would stop answering everyone else.
 */
const WELL_KNOWN_UDP: ReadonlyMap<number, string> = new Map([
  [53, 'DNS'],
  [67, 'DHCP server'],
  [68, 'DHCP client'],
  [69, 'TFTP'],
  [111, 'rpcbind'],
  [123, 'NTP'],
  [137, 'NetBIOS name service'],
  [138, 'NetBIOS datagrams'],
  [139, 'NetBIOS sessions'],
  [161, 'SNMP'],
  [162, 'SNMP traps'],
  [443, 'QUIC / HTTP/3'],
  [500, 'IKE (IPsec)'],
  [514, 'syslog'],
  [520, 'RIP'],
  [546, 'DHCPv6 client'],
  [547, 'DHCPv6 server'],
  [623, 'IPMI'],
  [1194, 'OpenVPN'],
  [1701, 'L2TP'],
  [1812, 'RADIUS'],
  [1813, 'RADIUS accounting'],
  [1900, 'SSDP'],
  [2049, 'NFS'],
  [3478, 'STUN/TURN'],
  [4500, 'IPsec NAT traversal'],
  [4784, 'BFD multihop'],
  [5353, 'mDNS'],
  [5355, 'LLMNR'],
  [6081, 'Geneve'],
  [51820, 'WireGuard'],
]);

/** A warning when mesh.port is a port some other service uses, saying what it would break. */
export function wellKnownPortWarning(mesh: MeshSettings): string | undefined {
  const port = mesh.port;
  const service = WELL_KNOWN_UDP.get(port) ?? (port < 1024 ? 'a system service (ports below 1024 are reserved for them)' : undefined);
  if (!service) return undefined;
  const effect = mesh.ingressFilter
    ? `the ingress filter drops UDP to port ${port} from every host that is not a peer, so ${WELL_KNOWN_UDP.has(port) ? `${service} on this server` : 'such a service'} stops answering them; the VXLAN devices also hold the port`
    : `the VXLAN devices hold the port, so ${WELL_KNOWN_UDP.has(port) ? service : 'such a service'} cannot use it on this server`;
  return `mesh.port ${port} is the UDP port of ${service}: ${effect} (VXLAN's own port is 4789; older Linux setups use 8472)`;
}

/**
 * Legacy links use the script's small index VNIs. Two script servers that give a vxmesh host
 * the same index share one device there (see computeDesired), but such a VNI must not also be
 * a pair VNI on that host. Two script hosts may disagree about the VNI of their own link.
 */
function checkLegacyLinks(mesh: MeshSettings, peers: Peer[], err: (w: Location, f: string, m: string) => void, warnings: string[]): void {
  const legacy = peers.filter((p) => p.legacy);
  if (legacy.length === 0) return;
  const modern = peers.filter((p) => !p.legacy);
  for (const host of modern) {
    for (const l of legacy) {
      const k = l.legacy!.remotes.indexOf(host.address);
      if (k < 0) {
        warnings.push(`no link between ${host.name} and ${l.name}: ${host.address} is not in ${l.name}'s legacy remotes`);
        continue;
      }
      const where = l.where.remotes[k] ?? l.where.item;
      const field = `${l.where.field}.legacy.remotes[${k}]`;
      const clash = modern.find((m) => m !== host && pairVni(host.id, m.id, mesh.vniBase) === k);
      if (clash) err(where, field, `VNI ${k} of link ${host.name}-${l.name} is also the VNI of link ${host.name}-${clash.name} (raise mesh.vni_base)`);
    }
  }
  for (let x = 0; x < legacy.length; x++) {
    for (let y = x + 1; y < legacy.length; y++) {
      const a = legacy[x]!;
      const b = legacy[y]!;
      const ab = a.legacy!.remotes.indexOf(b.address);
      const ba = b.legacy!.remotes.indexOf(a.address);
      if (ab >= 0 && ba >= 0 && ab !== ba) {
        warnings.push(`legacy link ${a.name}-${b.name} uses VNI ${ab} on ${a.name} but ${ba} on ${b.name}: it works only through VXLAN learning today`);
      }
    }
  }
}

function fmt(l: Location): string {
  return `${l.file}:${l.line}:${l.col}`;
}
