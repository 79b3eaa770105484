import { isOwnedDeviceName } from '../model/names.js';
import { maxTunnelId, parseCidr4, tunnelAddress } from '../model/wireguard.js';
import type { Location, MeshSettings, Peer } from '../model/types.js';
import type { MeshLocations } from './issue.js';

type Report = (where: Location, field: string, message: string) => void;

/**
 * `mesh.encryption: wireguard`: every peer needs a public key and a tunnel address, and the
 * mode must be one WireGuard can carry. A peer that cannot be encrypted is an error, never a
 * clear link: fail closed starts in the config.
 */
export function validateEncryption(mesh: MeshSettings, peers: Peer[], mainFile: string, where: MeshLocations, err: Report, warnings: string[], segmented = false): void {
  const at = (key: string): Location => where[key] ?? where.encryption ?? { file: mainFile, line: 1, col: 1 };
  if (mesh.encryption !== 'wireguard') {
    if (Object.keys(where).some((k) => k.startsWith('wireguard.'))) warnings.push('mesh.wireguard is used only with mesh.encryption: wireguard; ignored');
    return;
  }
  const wg = mesh.wireguard;
  if (!mesh.ingressFilter) warnings.push('ingress_filter: false has no effect with encryption: wireguard: the filter (WireGuard port only from peers, VXLAN only through WireGuard, no clear VXLAN out) is part of failing closed');
  if (mesh.mode === 'multicast') {
    err(at('encryption'), 'mesh.encryption', 'wireguard cannot carry multicast mode: WireGuard is point-to-point and drops multicast floods; use mode: flood-list (head-end replication, encrypted) or per-peer');
  }
  if (wg.port === mesh.port) err(at('wireguard.port'), 'mesh.wireguard.port', `${wg.port} is also mesh.port, the VXLAN port: WireGuard needs a UDP port of its own`);
  // With segments the names that must differ are the segments' (validate-segments.ts).
  if (!segmented && wg.device === mesh.bridge) err(at('wireguard.device'), 'mesh.wireguard.device', `"${wg.device}" is also the bridge name`);
  if (!segmented && mesh.mode !== 'per-peer' && wg.device === mesh.device) err(at('wireguard.device'), 'mesh.wireguard.device', `"${wg.device}" is also the ${mesh.mode} device`);
  if (isOwnedDeviceName(wg.device)) err(at('wireguard.device'), 'mesh.wireguard.device', `"${wg.device}" is a name vxmesh gives its VXLAN devices`);
  const range = parseCidr4(wg.tunnelRange);
  const keys = new Map<string, Peer>();
  for (const p of peers) {
    if (p.legacy) {
      err(p.where.item, `${p.where.field}.legacy`, `peer "${p.name}" runs vxlansetup.sh, which cannot encrypt: with mesh.encryption: wireguard it would get a clear link (migrate it first, see docs/migration.md)`);
      continue;
    }
    if (!p.publicKey) {
      err(p.where.publicKey, `${p.where.field}.public_key`, `peer "${p.name}" has no public_key, and with mesh.encryption: wireguard a peer without one gets no link (run \`vxmesh pubkey\` on ${p.name} and add what it prints)`);
    } else {
      const prev = keys.get(p.publicKey);
      if (prev) err(p.where.publicKey, `${p.where.field}.public_key`, `peer "${p.name}" has the same public_key as peer "${prev.name}" (each server has its own key)`);
      else keys.set(p.publicKey, p);
    }
    if (range && tunnelAddress(range, p.id) === undefined) {
      err(p.where.id, `${p.where.field}.id`, `id ${p.id} has no tunnel address in mesh.wireguard.tunnel_range ${wg.tunnelRange} (ids 1-${maxTunnelId(range)}; use a larger range)`);
    }
  }
}
