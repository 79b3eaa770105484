/**
 * Encryption with WireGuard (docs/encryption.md): keys, tunnel addresses and the MTU chain.
 * Pure: no file or process here; the key file lives in keys/, the commands in plan/ and kernel/.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

export type Encryption = 'none' | 'wireguard';
/** Where the WireGuard data path runs: the kernel module, or Debian's wireguard-go. */
export type WgImplementation = 'kernel' | 'userspace';

export interface WireguardSettings {
  /** UDP port WireGuard listens on (the only port the underlay must pass in encrypted mode). */
  port: number;
  device: string;
  /** IPv4 range the tunnel addresses come from (CIDR); each peer's is range base + id. */
  tunnelRange: string;
}

/**
 * 169.254.192.0/18: link-local, so never routed anywhere (RFC 3927) and used by nothing a
 * server must reach; the upper quarter of 169.254/16 keeps clear of the link-health probe's
 * 169.254.0.0/17 and of the cloud metadata address 169.254.169.254 (in 169.254.128.0/18).
 */
export const DEFAULT_TUNNEL_RANGE = '169.254.192.0/18';

export const WIREGUARD_DEFAULTS: WireguardSettings = { port: 51820, device: 'vxwg0', tunnelRange: DEFAULT_TUNNEL_RANGE };

/** The alias that marks the WireGuard interface as vxmesh's. */
export const WIREGUARD_ALIAS = 'vxmesh:wireguard';

/** Bytes WireGuard adds: outer IP (20/40) + UDP 8 + its header 16 + auth tag 16. */
export const WIREGUARD_OVERHEAD = { 4: 60, 6: 80 } as const;

/** A WireGuard key as `wg` writes it: base64 of 32 bytes (44 characters ending in '='). */
const KEY_FORMAT = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Why `text` is not a WireGuard key, or undefined when it is one. */
export function keyProblem(text: string): string | undefined {
  if (!KEY_FORMAT.test(text)) return 'must be a WireGuard key: base64 of 32 bytes, 44 characters ending in "=" (what `vxmesh pubkey` or `wg pubkey` prints)';
  if (Buffer.from(text, 'base64').every((b) => b === 0)) return 'is the all-zero key, which WireGuard refuses';
  return undefined;
}

/** PKCS#8 DER prefix of a raw X25519 private key (RFC 8410): what node's crypto imports. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a private key (both base64), with node's X25519: no `wg` binary needed. */
export function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, Buffer.from(privateKey, 'base64')]);
  const x = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x!;
  return Buffer.from(x, 'base64url').toString('base64');
}

/** A new private key, clamped as `wg genkey` writes it. */
export function generatePrivateKey(): string {
  const d = generateKeyPairSync('x25519').privateKey.export({ format: 'jwk' }).d!;
  const raw = Buffer.from(d, 'base64url');
  raw[0] = raw[0]! & 248;
  raw[31] = (raw[31]! & 127) | 64;
  return raw.toString('base64');
}

/**
 * A short fingerprint of a public key for status and logs: the first 8 characters of the key
 * itself, as `wg show` users recognise it (public keys are not secret; this only saves width).
 */
export function keyFingerprint(publicKey: string): string {
  return `${publicKey.slice(0, 8)}…`;
}

export interface Cidr {
  base: number;
  len: number;
}

/** An IPv4 CIDR, or undefined; the base must be the network address. */
export function parseCidr4(text: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const len = Number(m[5]);
  if (octets.some((o) => o > 255) || len > 30) return undefined;
  const base = octets.reduce((a, o) => a * 256 + o, 0);
  if (base % 2 ** (32 - len) !== 0) return undefined;
  return { base, len };
}

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Ids that have a tunnel address in `range`: 1 .. size - 2 (network and broadcast addresses are left out). */
export function maxTunnelId(range: Cidr): number {
  return 2 ** (32 - range.len) - 2;
}

/** A peer's tunnel address: the range's base plus its id (both ends compute it alone, like the pair VNI). */
export function tunnelAddress(range: Cidr, id: number): string | undefined {
  if (!Number.isInteger(id) || id < 1 || id > maxTunnelId(range)) return undefined;
  return ipv4(range.base + id);
}

export function formatCidr(range: Cidr): string {
  return `${ipv4(range.base)}/${range.len}`;
}

/** The chain of MTUs from the underlay down to the mesh bridge. */
export interface MtuChain {
  underlay: number;
  /** underlay - 60 (IPv4 underlay) / 80 (IPv6). */
  wireguard: number;
  /** What fits inside a VXLAN packet on the WireGuard interface: wireguard - 50 (IPv4 tunnel addresses). */
  fits: number;
  mesh: number;
  ok: boolean;
  /** When it does not fit: the numbers, and the two fixes. */
  problem: string | undefined;
}

/** VXLAN's overhead with IPv4 tunnel addresses (the only kind vxmesh derives). */
const VXLAN_OVER_TUNNEL = 50;

export function computeMtuChain(underlayMtu: number, underlayFamily: 4 | 6, meshMtu: number): MtuChain {
  const wg = underlayMtu - WIREGUARD_OVERHEAD[underlayFamily];
  const fits = wg - VXLAN_OVER_TUNNEL;
  const ok = fits >= meshMtu;
  const need = meshMtu + VXLAN_OVER_TUNNEL + WIREGUARD_OVERHEAD[underlayFamily];
  const problem = ok
    ? undefined
    : `mesh mtu ${meshMtu} does not fit: underlay ${underlayMtu} - ${WIREGUARD_OVERHEAD[underlayFamily]} (WireGuard over IPv${underlayFamily}) = ${wg}, - ${VXLAN_OVER_TUNNEL} (VXLAN) = ${fits}; raise the underlay MTU to ${need} (jumbo frames), or set mesh.mtu: ${fits}`;
  return { underlay: underlayMtu, wireguard: wg, fits, mesh: meshMtu, ok, problem };
}

/** One line of `wg show <dev> dump` after the first: a peer as the device has it. */
export interface WgPeerState {
  publicKey: string;
  endpoint: string | undefined;
  allowedIps: string[];
  /** Unix seconds of the last handshake; 0: never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
}

/** The WireGuard interface as `wg show <dev> dump` reads; never the private key. */
export interface WireguardState {
  device: string;
  /** The device's public key (derived by wg from its private key); undefined when it has none. */
  publicKey: string | undefined;
  listenPort: number;
  peers: Map<string, WgPeerState>;
}

/** After this long without a handshake a session is stale (WireGuard rekeys every 120 s while traffic flows). */
export const HANDSHAKE_STALE_S = 180;

export type HandshakeState = 'never' | 'ok' | 'stale';

export function handshakeState(latest: number, nowS: number): HandshakeState {
  if (latest === 0) return 'never';
  return nowS - latest > HANDSHAKE_STALE_S ? 'stale' : 'ok';
}
