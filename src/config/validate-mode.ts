import { isIPv4 } from 'node:net';
import type { Location, MeshSettings, Peer } from '../model/types.js';
import type { MeshLocations } from './issue.js';

/**
 * A Linux bridge numbers its ports in 10 bits (BR_MAX_PORTS = 1024, port 0 unused): per-peer
 * mode puts one port per remote on it, and the containers need ports too.
 */
export const BRIDGE_MAX_PORTS = 1024;
/** Above this many peers per-peer mode is refused (what is left of the bridge is for containers). */
export const PER_PEER_MAX_PEERS = 1000;
/** From this many peers `check` points to flood-list (n-1 devices, ports and loop rules per host, at most 1024 bridge ports). */
export const PER_PEER_WARN_PEERS = 500;

type Report = (where: Location, field: string, message: string) => void;

/** Is `address` (canonical text) an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast address? */
export function isMulticast(address: string): boolean {
  if (isIPv4(address)) {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return address.toLowerCase().startsWith('ff');
}

/**
 * The mode's own rules: what each mode needs (a VNI, a multicast group) and the per-peer
 * ceiling. Settings meant for another mode are warnings, not errors, so a mesh can be switched
 * back and forth by changing `mode:` alone.
 */
export function validateMode(mesh: MeshSettings, peers: Peer[], mainFile: string, where: MeshLocations, err: Report, warnings: string[], segmented = false): void {
  // control: evpn has its own rules (validate-evpn.ts).
  if (mesh.mode === 'evpn') return;
  const at = (key: string): Location => where[key] ?? where.mode ?? { file: mainFile, line: 1, col: 1 };
  const single = mesh.mode !== 'per-peer';
  // With segments each has its VNI, bridge, device and group (validate-segments.ts).
  if (single && !segmented && mesh.vni === undefined) err(at('mode'), 'mesh.vni', `is required in ${mesh.mode} mode (the one VNI of the mesh, 1-16777215)`);
  if (single && !segmented && mesh.device === mesh.bridge) err(at('device'), 'mesh.device', `"${mesh.device}" is also the bridge name`);
  if (mesh.mode === 'multicast') {
    // Segments may each name their group (validate-segments.ts says where one is missing).
    if (mesh.group === undefined) {
      if (!segmented) err(at('mode'), 'mesh.group', 'is required in multicast mode (e.g. 239.1.1.1 or ff05::42)');
    } else if (!isMulticast(mesh.group)) err(at('group'), 'mesh.group', `${mesh.group} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)`);
    else {
      const family = mesh.group.includes(':') ? 6 : 4;
      for (const p of peers) if (p.family !== family) err(p.where.address, `${p.where.field}.address`, `${p.address} is IPv${p.family} but mesh.group ${mesh.group} is IPv${family}: multicast mode needs one address family`);
    }
  } else {
    if (mesh.group !== undefined) warnings.push(`mesh.group is used only in multicast mode; ignored in ${mesh.mode} mode`);
    if (mesh.ttl !== undefined) warnings.push(`mesh.ttl is used only in multicast mode; ignored in ${mesh.mode} mode`);
  }
  if (!single && mesh.vni !== undefined) warnings.push('mesh.vni is used only in flood-list and multicast modes; per-peer mode gives each link a pair VNI from mesh.vni_base');
  if (single) {
    for (const p of peers) {
      if (p.legacy) err(p.where.item, `${p.where.field}.legacy`, `vxlansetup.sh servers make one device per remote: legacy peers need per-peer mode, not ${mesh.mode}`);
    }
    return;
  }
  const n = peers.length;
  if (n > PER_PEER_MAX_PEERS) {
    const over = peers[PER_PEER_MAX_PEERS]!;
    err(where.mode ?? over.where.item, where.mode ? 'mesh.mode' : over.where.field, `per-peer mode cannot take ${n} peers: it puts one bridge port per remote on the bridge, and a Linux bridge has at most ${BRIDGE_MAX_PORTS} ports (vxmesh stops at ${PER_PEER_MAX_PEERS} peers to leave ports for containers); use mode: flood-list`);
  } else if (n >= PER_PEER_WARN_PEERS) {
    warnings.push(`${n} peers in per-peer mode: ${n - 1} devices and ${n - 1} loop-prevention port rules per host (one per port), and a hard limit of ${PER_PEER_MAX_PEERS} peers (a bridge takes ${BRIDGE_MAX_PORTS} ports); mode: flood-list needs one device and one fdb entry per remote`);
  }
}
