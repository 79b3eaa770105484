/**
 * The WireGuard interface of an encrypted mesh, as this host should have it, and the lines
 * that make the kernel match it. Pure. Keys go to WireGuard only as the key file's path
 * (`wg set <dev> private-key <path>`): no secret in a plan, an argument list or a log.
 */
import { noPortAddressLines } from './port-address.js';
import type { ActualState } from '../model/state.js';
import type { Config, Peer } from '../model/types.js';
import { WIREGUARD_ALIAS, WIREGUARD_OVERHEAD, computeMtuChain, formatCidr, parseCidr4, tunnelAddress, type MtuChain, type WgImplementation, type WireguardState } from '../model/wireguard.js';

/** What the daemon found on this host for WireGuard (the planner cannot look itself). */
export interface WireguardHost {
  /** undefined: neither the kernel module nor wireguard-go works here (`problem` says why). */
  implementation: WgImplementation | undefined;
  problem: string | undefined;
  /** The private key file, which `wg` reads. */
  keyFile: string | undefined;
  /** This server's public key, from that file; undefined when it cannot be read (`keyProblem`). */
  publicKey: string | undefined;
  keyProblem: string | undefined;
}

export interface WgPeerDesired {
  name: string;
  publicKey: string;
  /** The peer's underlay address and WireGuard port, as `wg show dump` prints it. */
  endpoint: string;
  /** Only the peer's tunnel address: nothing else is accepted from it, nothing else sent to it. */
  allowedIp: string;
}

export interface WireguardDesired {
  device: string;
  port: number;
  alias: string;
  /** This server's tunnel address, on the interface with the range's prefix length. */
  address: string;
  range: string;
  prefixLen: number;
  underlay: string;
  underlayFamily: 4 | 6;
  keyFile: string | undefined;
  publicKey: string | undefined;
  implementation: WgImplementation | undefined;
  peers: WgPeerDesired[];
  /** Peer name -> tunnel address (what the VXLAN devices use as remote). */
  tunnelOf: Map<string, string>;
  /** Why no encrypted link can be made now: then no VXLAN device is made either (fail closed). */
  blocked: string | undefined;
  /** This server's public_key in the peers file is not its own key: every peer expects another key. */
  ownKeyMismatch: string | undefined;
}

export function endpointOf(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Pure: the WireGuard interface and one WireGuard peer per remote (same address family). */
export function computeWireguard(config: Config, self: Peer, underlay: string, host: WireguardHost | undefined): WireguardDesired {
  const wg = config.mesh.wireguard;
  // Validation guarantees the range and every id's tunnel address.
  const range = parseCidr4(wg.tunnelRange)!;
  const tunnelOf = new Map(config.peers.map((p) => [p.name, tunnelAddress(range, p.id) ?? '']));
  const peers = config.peers
    .filter((p) => p !== self && p.family === self.family && p.publicKey)
    .sort((a, b) => a.id - b.id)
    .map((p) => ({ name: p.name, publicKey: p.publicKey!, endpoint: endpointOf(p.address, wg.port), allowedIp: `${tunnelOf.get(p.name)}/32` }));
  const blocked = !host ? 'WireGuard not probed on this host yet' : host.implementation === undefined ? host.problem ?? 'no WireGuard on this host' : host.publicKey === undefined ? host.keyProblem ?? 'no private key' : undefined;
  const ownKeyMismatch = host?.publicKey && self.publicKey && self.publicKey !== host.publicKey ? `this server's public_key in the peers file (${self.publicKey.slice(0, 8)}…) is not its own key (${host.publicKey.slice(0, 8)}…, \`vxmesh pubkey\`): no peer can complete a handshake with it` : undefined;
  return {
    device: wg.device,
    port: wg.port,
    alias: WIREGUARD_ALIAS,
    address: tunnelOf.get(self.name)!,
    range: formatCidr(range),
    prefixLen: range.len,
    underlay,
    underlayFamily: self.family,
    keyFile: host?.keyFile,
    publicKey: host?.publicKey,
    implementation: host?.implementation,
    peers,
    tunnelOf,
    blocked: blocked ? `no encrypted link is made: ${blocked}` : undefined,
    ownKeyMismatch,
  };
}

/** The MTU chain on this host now (undefined until the underlay device is read). */
export function mtuChainOf(w: WireguardDesired, actual: ActualState, meshMtu: number): MtuChain | undefined {
  const under = actual.links.get(w.underlay);
  return under ? computeMtuChain(under.mtu, w.underlayFamily, meshMtu) : undefined;
}

/** What planWireguard writes into (the draft of plan.ts). */
export interface WireguardPlan {
  /** ip batch lines run first: an interface that must be made anew goes. */
  wgDel: string[];
  /** `wireguard-go <dev>` when the userspace interface must be started. */
  wgGo: string | undefined;
  /** ip batch lines for the interface (create, mark, MTU, address, up), run before the VXLAN devices. */
  wgIp: string[];
  /** `wg` argument lists. */
  wg: string[][];
  changes: string[];
  blocked: string[];
}

/**
 * Make the interface match: created (kernel `ip link add ... type wireguard`, or wireguard-go,
 * which makes a tun device and serves it from its own detached process), marked, its MTU
 * (underlay - 60/80), its tunnel address, up; then only the WireGuard settings that differ.
 * Returns the interface's MTU (what the VXLAN devices on it may use), or 'blocked' when no
 * VXLAN device may be made on it.
 */
export function planWireguard(plan: WireguardPlan, w: WireguardDesired, actual: ActualState): number | 'blocked' {
  if (w.blocked) {
    plan.blocked.push(w.blocked);
    return 'blocked';
  }
  const a = actual.links.get(w.device);
  if (a && a.alias !== w.alias) {
    plan.blocked.push(`${w.device} exists and is not managed by vxmesh (alias ${JSON.stringify(a.alias ?? '')}); no encrypted link is made (delete it, or set mesh.wireguard.device)`);
    return 'blocked';
  }
  if (a && a.kind !== 'wireguard' && a.kind !== 'tun') {
    plan.blocked.push(`${w.device} is marked as vxmesh's WireGuard interface but is a ${a.kind ?? 'plain'} device; no encrypted link is made`);
    return 'blocked';
  }
  const under = actual.links.get(w.underlay);
  const mtu = under ? under.mtu - WIREGUARD_OVERHEAD[w.underlayFamily] : a?.mtu ?? 1420;
  const cidr = `${w.address}/${w.prefixLen}`;
  // A wireguard-go that `wg` cannot reach (its control socket removed) can never be configured
  // again: its interface is made anew. The VXLAN devices on it go with it and are made again too.
  const unreachable = a?.kind === 'tun' && actual.wireguardError !== undefined && actual.wireguard === undefined;
  if (unreachable) {
    plan.wgDel.push(`link del dev ${w.device}`);
    plan.changes.push(`recreate WireGuard interface ${w.device}: wg cannot reach its wireguard-go (${actual.wireguardError})`);
  }
  if (!a || unreachable) {
    if (w.implementation === 'kernel') plan.wgIp.push(`link add name ${w.device} type wireguard`);
    else plan.wgGo = w.device;
    plan.wgIp.push(`link set dev ${w.device} alias ${w.alias}`, ...noPortAddressLines(w.device, actual), `link set dev ${w.device} mtu ${mtu}`, `addr add ${cidr} dev ${w.device}`, `link set dev ${w.device} up`);
    plan.wg.push(wgSetArgs(w, undefined));
    plan.changes.push(`create WireGuard interface ${w.device} (${w.implementation === 'kernel' ? 'kernel' : 'userspace, wireguard-go'}; mtu ${mtu}, ${cidr}, ${w.peers.length} peers)`);
    return mtu;
  }
  if (a.mtu !== mtu && under) {
    plan.wgIp.push(`link set dev ${w.device} mtu ${mtu}`);
    plan.changes.push(`set ${w.device} mtu ${a.mtu} -> ${mtu} (underlay ${under.mtu} - ${WIREGUARD_OVERHEAD[w.underlayFamily]})`);
  }
  const v4 = a.addresses.filter((x) => !x.includes(':'));
  if (!v4.includes(w.address) || a.prefixLens?.get(w.address) !== w.prefixLen) {
    if (v4.includes(w.address)) plan.wgIp.push(`addr del ${w.address}/${a.prefixLens?.get(w.address) ?? 32} dev ${w.device}`);
    plan.wgIp.push(`addr add ${cidr} dev ${w.device}`);
    plan.changes.push(`set ${w.device} tunnel address ${cidr}`);
  }
  for (const x of v4) {
    if (x === w.address) continue;
    plan.wgIp.push(`addr del ${x}/${a.prefixLens?.get(x) ?? 32} dev ${w.device}`);
    plan.changes.push(`remove old tunnel address ${x} from ${w.device}`);
  }
  if (!a.up) {
    plan.wgIp.push(`link set dev ${w.device} up`);
    plan.changes.push(`bring ${w.device} up`);
  }
  const args = wgSetArgs(w, actual.wireguard?.device === w.device ? actual.wireguard : undefined);
  if (args.length > 2) {
    plan.wg.push(args);
    plan.changes.push(`update ${w.device}: ${describeWgSet(args)}`);
  }
  return mtu;
}

/**
 * `wg set <dev> ...` with what differs from `have` (everything when it is unknown): the key
 * (as its file's path), the listen port, each peer whose endpoint or allowed-ips differ, and
 * `remove` for peers no longer wanted. `wg set` changes only the peers it names, so the
 * sessions of the others go on untouched.
 */
export function wgSetArgs(w: WireguardDesired, have: WireguardState | undefined): string[] {
  const args = ['set', w.device];
  if (!have || have.publicKey !== w.publicKey) args.push('private-key', w.keyFile!);
  if (!have || have.listenPort !== w.port) args.push('listen-port', String(w.port));
  const wanted = new Set(w.peers.map((p) => p.publicKey));
  for (const p of w.peers) {
    const h = have?.peers.get(p.publicKey);
    if (h && h.endpoint === p.endpoint && h.allowedIps.length === 1 && h.allowedIps[0] === p.allowedIp) continue;
    args.push('peer', p.publicKey, 'endpoint', p.endpoint, 'allowed-ips', p.allowedIp);
  }
  for (const k of [...(have?.peers.keys() ?? [])].sort()) if (!wanted.has(k)) args.push('peer', k, 'remove');
  return args;
}

function describeWgSet(args: string[]): string {
  const parts: string[] = [];
  if (args.includes('private-key')) parts.push('private key');
  if (args.includes('listen-port')) parts.push('listen port');
  let set = 0;
  let removed = 0;
  for (let k = 0; k < args.length; k++) {
    if (args[k] !== 'peer') continue;
    if (args[k + 2] === 'remove') removed++;
    else set++;
  }
  if (set) parts.push(`${set} peer${set === 1 ? '' : 's'} set`);
  if (removed) parts.push(`${removed} peer${removed === 1 ? '' : 's'} removed`);
  return parts.join(', ');
}
