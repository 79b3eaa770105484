import type { Location, MeshSettings, Peer } from '../model/types.js';
import type { MeshLocations } from './issue.js';

type Report = (where: Location, field: string, message: string) => void;

/**
 * The rules of `control: evpn` (docs/evpn.md): the one-device shape with the segment's VNI, and
 * a BGP speaker to render into FRR. `peers:` may list this server alone: membership comes from
 * BGP. Settings of the static control plane given with it are errors only where they would
 * change the kernel's shape; `bgp:` without evpn is a warning, so a mesh can be switched by
 * changing `control:` alone.
 */
export function validateEvpn(mesh: MeshSettings, peers: Peer[], mainFile: string, where: MeshLocations, err: Report, warnings: string[], segmented = false): void {
  const at = (key: string): Location => where[key] ?? where.control ?? { file: mainFile, line: 1, col: 1 };
  if (mesh.control !== 'evpn') {
    if (mesh.bgp) warnings.push('mesh.bgp is used only with control: evpn; ignored with control: static');
    return;
  }
  if (where.mode) err(where.mode, 'mesh.mode', `must not be set with control: evpn (EVPN has its own one-device shape: one device without a flood list, filled by FRR's zebra); remove mode: ${mesh.mode}`);
  // Fail closed: zebra advertises the underlay address as the VTEP, so EVPN's VXLAN would not ride WireGuard.
  if (mesh.encryption === 'wireguard') err(where.encryption ?? at('control'), 'mesh.encryption', 'wireguard with control: evpn is not supported yet (EVPN advertises the underlay address as the VTEP, so its VXLAN would cross in clear); use control: static with mode flood-list or per-peer for an encrypted mesh');
  // With segments: each segment's VNI is advertised (advertise-all-vni), and has its own names.
  if (!segmented && mesh.vni === undefined) err(at('control'), 'mesh.vni', 'is required with control: evpn (the VNI of the segment, 1-16777215)');
  if (!segmented && mesh.device === mesh.bridge) err(at('device'), 'mesh.device', `"${mesh.device}" is also the bridge name`);
  const bgp = mesh.bgp;
  if (!bgp) {
    err(at('control'), 'mesh.bgp', 'is required with control: evpn (asn and neighbors: the route reflectors or peers this server speaks BGP to)');
    return;
  }
  if (!bgp.asn) err(where['bgp.neighbors'] ?? at('control'), 'mesh.bgp.asn', 'is required with control: evpn (the AS number, e.g. 65000)');
  if (bgp.neighbors.length === 0) err(where['bgp.asn'] ?? at('control'), 'mesh.bgp.neighbors', 'is required with control: evpn (the addresses of the route reflectors or peers)');
  if (bgp.routerId === undefined) {
    const v6 = peers.find((p) => p.family === 6);
    if (v6) err(v6.where.address, `${v6.where.field}.address`, 'is IPv6: set mesh.bgp.router_id (a BGP router id is an IPv4 address; it defaults to the server\'s underlay IPv4 address)');
  }
  for (const p of peers) {
    if (p.legacy) err(p.where.item, `${p.where.field}.legacy`, 'vxlansetup.sh servers make one device per remote: legacy peers cannot join an EVPN mesh');
  }
  if (mesh.group !== undefined) warnings.push('mesh.group is used only in multicast mode; ignored with control: evpn');
  if (mesh.ttl !== undefined) warnings.push('mesh.ttl is used only in multicast mode; ignored with control: evpn');
}
