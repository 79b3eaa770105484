import { linkVni } from '../model/vni.js';
import { deviceName, isSafeIfname, ownerAlias, sharedAlias, sharedDeviceName } from '../model/names.js';
import { compareAddr, type IngressDesired } from '../model/state.js';
import type { Config, LoopPrevention, MeshMode, Peer } from '../model/types.js';
import type { ProbeAddressDesired } from './probe-address.js';
import { computeSingleDevice, type SingleDevice } from './single-device.js';
import { computeWireguard, type WireguardDesired, type WireguardHost } from './wireguard.js';
import { computeFrrDesired, type FrrDesired } from '../evpn/frr-config.js';
import { bridgeAlias, probeSegment, segmentsOf, spans } from './segments.js';

export interface DesiredLink {
  peer: string;
  peerId: number;
  device: string;
  vni: number;
  remote: string;
  local: string;
  underlay: string;
  port: number;
  mtu: number;
  legacy: boolean;
  /** The link rides a device shared with other script servers that give this host the same VNI. */
  shared: boolean;
  /** Encrypted mode: the peer's underlay address (`remote` is then its tunnel address). */
  endpoint?: string;
  /** One-device modes: the segment the link belongs to (a peer has one link per shared segment). */
  segment?: string;
}

/** One segment on this host (one-device modes): its bridge and its one device. */
export interface DesiredSegment {
  name: string;
  bridge: { name: string; mtu: number; alias: string };
  single: SingleDevice;
}

/** One VXLAN device: usually one link, or several legacy links on one VNI. */
export interface DesiredDevice {
  device: string;
  vni: number;
  /**
   * One remote: a point-to-point link (nolearning). Several: script servers that all give
   * this host the same VNI (the kernel allows one device per VNI and port), so one device
   * floods to each through default FDB entries and learns which MAC is behind which.
   */
  remotes: string[];
  shared: boolean;
  local: string;
  underlay: string;
  port: number;
  mtu: number;
  alias: string;
  peers: string[];
}

export interface DesiredState {
  node: string;
  mode: MeshMode;
  /**
   * One-device modes: the segments this host is a member of, each with its bridge and device
   * (then `devices` is empty); without `segments:` the mesh's one segment. Empty in per-peer mode.
   */
  segments: DesiredSegment[];
  /** per-peer: the mesh bridge; one-device modes: the first segment's (status shows it). */
  bridge: { name: string; mtu: number };
  /** Per peer, for status. */
  links: DesiredLink[];
  /** Per kernel device, for the plan. */
  devices: DesiredDevice[];
  loopPrevention: LoopPrevention;
  /** Undefined when `ingress_filter: false`. */
  ingress: IngressDesired | undefined;
  /** The link-health probe address on the probe bridge (undefined when `mesh.probe.enabled: false`, or this host is not in the probe segment). */
  probe: ProbeAddressDesired | undefined;
  /** Encrypted mode: the WireGuard interface and its peers; the VXLAN devices ride it. */
  wireguard: WireguardDesired | undefined;
  /** control: evpn: the BGP config vxmesh keeps in FRR (undefined without a router id). */
  frr?: FrrDesired | undefined;
}

/** Local addresses and the device holding each, as read from the kernel. */
export type LocalAddresses = ReadonlyMap<string, string>;

export type SelfResult =
  | {
      ok: true;
      self: Peer;
      underlay: string;
      /** The address the links use: the configured one, or the underlay's new one after a change (DHCP). */
      local: string;
      /** Set when the configured address is gone and `local` is the underlay's new address. */
      movedFrom?: string;
    }
  | { ok: false; reason: string };

/**
 * Which peer this host is, and its underlay device. `node` (from --node or a drop-in)
 * names it; otherwise it is the peer whose address is on a local interface.
 */
export function findSelf(config: Config, node: string | undefined, local: LocalAddresses, lastUnderlay?: string): SelfResult {
  const name = node ?? config.node;
  let self: Peer | undefined;
  if (name !== undefined) {
    self = config.peers.find((p) => p.name === name);
    if (!self) return { ok: false, reason: `node "${name}" is not a peer in the config` };
  } else {
    const mine = config.peers.filter((p) => local.has(p.address));
    if (mine.length > 1) return { ok: false, reason: `several peers have local addresses (${mine.map((p) => p.name).join(', ')}); set node: or --node` };
    self = mine[0];
    if (!self) return { ok: false, reason: 'waiting for the underlay address: no peer address is assigned to a local interface (or set node: / --node)' };
  }
  const holder = local.get(self.address);
  // The underlay's name goes into batch lines: a kernel name outside the safe alphabet is refused.
  if (holder && !self.dev && !isSafeIfname(holder)) return { ok: false, reason: `the interface holding ${self.address} has a name vxmesh does not use in commands (${JSON.stringify(holder.slice(0, 20))}); set dev: for ${self.name}` };
  if (holder) return { ok: true, self, underlay: self.dev ?? holder, local: self.address };
  // Named node whose address went away: if its underlay now has another address of the same
  // family (DHCP gave a new one), the links follow it so they keep working once peers are told.
  const dev = self.dev ?? (lastUnderlay !== undefined && isSafeIfname(lastUnderlay) ? lastUnderlay : undefined);
  const moved = dev ? [...local].find(([addr, d]) => d === dev && addr.includes(':') === (self.family === 6) && !addr.startsWith('fe80:')) : undefined;
  if (name !== undefined && dev && moved) return { ok: true, self, underlay: dev, local: moved[0], movedFrom: self.address };
  return { ok: false, reason: `waiting for the underlay address ${self.address} of ${self.name} to appear on a local interface` };
}

/**
 * Pure: the kernel objects this host should have. With `mesh.encryption: wireguard` the VXLAN
 * devices use tunnel addresses as local and remote and the WireGuard interface as their
 * device, so every VXLAN packet leaves inside WireGuard; `wgHost` is what the daemon found on
 * this host (the implementation, this server's public key and key file).
 */
export function computeDesired(config: Config, self: Peer, underlay: string, localAddress = self.address, wgHost?: WireguardHost): DesiredState {
  const { mesh } = config;
  const wireguard = mesh.encryption === 'wireguard' ? computeWireguard(config, self, underlay, wgHost) : undefined;
  // What the VXLAN devices ride: the WireGuard interface and tunnel addresses, or the underlay.
  const ride = wireguard ? { dev: wireguard.device, local: wireguard.address, remote: (p: Peer) => wireguard.tunnelOf.get(p.name) ?? p.address } : { dev: underlay, local: localAddress, remote: (p: Peer) => p.address };
  const oneDevice = mesh.mode !== 'per-peer';
  const segments: DesiredSegment[] = (oneDevice ? segmentsOf(config) : [])
    .filter((seg) => spans(seg, self))
    .map((seg) => ({
      name: seg.name,
      bridge: { name: seg.bridge, mtu: seg.mtu, alias: bridgeAlias(seg) },
      single: computeSingleDevice(config, self, ride.dev, ride.local, ride.remote, seg),
    }));
  const links: DesiredLink[] = [];
  for (const peer of oneDevice ? [] : config.peers) {
    if (peer === self || peer.family !== self.family) continue;
    const vni = linkVni(self, peer, mesh.vniBase);
    if (vni === undefined) continue; // a legacy end that has no link to us
    links.push({
      peer: peer.name,
      peerId: peer.id,
      device: deviceName(peer.id),
      shared: false,
      vni,
      remote: ride.remote(peer),
      local: ride.local,
      underlay: ride.dev,
      port: mesh.port,
      mtu: mesh.mtu,
      legacy: Boolean(self.legacy || peer.legacy),
      ...(wireguard ? { endpoint: peer.address } : {}),
    });
  }
  for (const { name, single } of segments) {
    const segment = config.segments ? { segment: name } : {};
    links.push(...single.peers.map((p) => ({ peer: p.name, peerId: p.id, device: single.device, shared: true, vni: single.vni, remote: ride.remote(p), local: ride.local, underlay: ride.dev, port: mesh.port, mtu: single.mtu, legacy: false, ...(wireguard ? { endpoint: p.address } : {}), ...segment })));
  }
  // Stable: a peer's links stay in segment order.
  links.sort((a, b) => a.peerId - b.peerId);
  // Validation lets a VNI repeat only between legacy links; those share a device.
  const devices = oneDevice ? [] : groupDevices(links);
  const others = config.peers.filter((p) => p !== self);
  // With encryption the filter is part of failing closed (the output rule above all): always on.
  const ingress = mesh.ingressFilter || wireguard
    ? {
        port: mesh.port,
        local: [localAddress, ...new Set(segments.flatMap((g) => (g.single.group ? [g.single.group] : [])))],
        peers4: others.filter((p) => p.family === 4).map((p) => p.address).sort(compareAddr),
        peers6: others.filter((p) => p.family === 6).map((p) => p.address).sort(compareAddr),
        ...(wireguard ? { wireguard: { port: wireguard.port, device: wireguard.device, range: wireguard.range, tunnel: wireguard.address } } : {}),
      }
    : undefined;
  const frr = mesh.control === 'evpn' && mesh.bgp ? computeFrrDesired(mesh.bgp, self.family === 4 ? localAddress : undefined) : undefined;
  const first = segments[0];
  const bridge = first ? { name: first.bridge.name, mtu: first.bridge.mtu } : { name: mesh.bridge, mtu: mesh.mtu };
  // Probes run through one bridge: the probe segment's (segments.ts), when this host is in it.
  const probeBridge = oneDevice ? segments.find((g) => g.name === probeSegment(config))?.bridge.name : mesh.bridge;
  const probe = mesh.probe.enabled && probeBridge !== undefined ? { bridge: probeBridge, id: self.id } : undefined;
  return { node: self.name, mode: mesh.mode, segments, bridge, links, devices, loopPrevention: mesh.loopPrevention, ingress, probe, wireguard, ...(frr ? { frr } : {}) };
}

/** One device per link, except legacy links that share a VNI: those share one device (and the links say so). */
function groupDevices(links: DesiredLink[]): DesiredDevice[] {
  const byVni = new Map<number, DesiredLink[]>();
  for (const l of links) byVni.set(l.vni, [...(byVni.get(l.vni) ?? []), l]);
  const devices: DesiredDevice[] = [];
  for (const [vni, group] of byVni) {
    const first = group[0]!;
    const shared = group.length > 1;
    if (shared) for (const l of group) Object.assign(l, { device: sharedDeviceName(vni), shared: true });
    devices.push({
      device: first.device,
      vni,
      remotes: group.map((l) => l.remote).sort(compareAddr),
      shared,
      local: first.local,
      underlay: first.underlay,
      port: first.port,
      mtu: first.mtu,
      alias: shared ? sharedAlias(vni) : ownerAlias(first.peer),
      peers: group.map((l) => l.peer),
    });
  }
  return devices;
}
