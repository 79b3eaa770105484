/**
 * Pure: the encryption part of status, per link and for the host, from the desired WireGuard
 * interface and what `wg show <dev> dump` read. Public keys are not secret; the private key
 * is never read into any of this.
 */
import type { ActualState } from '../model/state.js';
import { handshakeState, keyFingerprint } from '../model/wireguard.js';
import type { DesiredLink } from '../plan/desired.js';
import { mtuChainOf, type WireguardDesired } from '../plan/wireguard.js';
import type { EncryptionStatus, WgLinkStatus } from './status.js';

/**
 * `tunnelFailing`: link health finds the link dead through the tunnel. A stale handshake alone
 * is an idle link (WireGuard shakes hands only while there is traffic), not a dead one.
 */
export function wgLinkStatus(d: DesiredLink, w: WireguardDesired | undefined, actual: ActualState, nowS: number, tunnelFailing = false): WgLinkStatus | null {
  if (!w) return null;
  const want = w.peers.find((p) => p.name === d.peer);
  if (!want) return null;
  const have = actual.wireguard?.device === w.device ? actual.wireguard.peers.get(want.publicKey) : undefined;
  const hs = handshakeState(have?.latestHandshake ?? 0, nowS);
  let problem: string | null = null;
  if (!actual.links.has(w.device)) problem = `WireGuard interface ${w.device} is missing`;
  else if (!have) problem = `no WireGuard peer with public key ${keyFingerprint(want.publicKey)} on ${w.device} (repair pending)`;
  else if (hs === 'never' && have.txBytes > 0) problem = `no handshake: key mismatch, or UDP ${w.port} blocked (this server expects ${d.peer}'s public key ${keyFingerprint(want.publicKey)} and sends to ${want.endpoint})`;
  else if (hs === 'stale' && tunnelFailing) problem = `no handshake for ${nowS - have.latestHandshake} s: key changed, or UDP ${w.port} blocked (public key ${keyFingerprint(want.publicKey)}, endpoint ${want.endpoint})`;
  return {
    publicKey: keyFingerprint(want.publicKey),
    endpoint: want.endpoint,
    currentEndpoint: have?.endpoint ?? null,
    present: have !== undefined,
    handshake: hs,
    handshakeAgeSeconds: have && have.latestHandshake > 0 ? Math.max(0, nowS - have.latestHandshake) : null,
    rxBytes: have?.rxBytes ?? 0,
    txBytes: have?.txBytes ?? 0,
    problem,
  };
}

export function encryptionStatus(w: WireguardDesired | undefined, actual: ActualState, meshMtu: number): EncryptionStatus {
  const dropped = { input: actual.ingress.dropped, output: actual.ingress.clearOut ?? 0 };
  if (!w) return { mode: 'none', implementation: null, device: null, present: false, publicKey: null, listenPort: null, tunnelAddress: null, mtuChain: null, clearVxlanDropped: dropped, wireguardPortDropped: 0, problem: null };
  const dev = actual.links.get(w.device);
  const chain = mtuChainOf(w, actual, meshMtu);
  // The kind of the interface there is says which it is; before it exists, what was probed.
  const implementation = dev?.kind === 'wireguard' ? 'kernel' : dev?.kind === 'tun' ? 'userspace' : w.implementation ?? null;
  const problem = w.blocked ?? w.ownKeyMismatch ?? (actual.wireguardError ? `wg show ${w.device} failed: ${actual.wireguardError}` : undefined) ?? chain?.problem ?? (dev ? null : `WireGuard interface ${w.device} is missing`);
  return {
    mode: 'wireguard',
    implementation,
    device: w.device,
    present: dev !== undefined,
    publicKey: w.publicKey ?? null,
    listenPort: actual.wireguard?.listenPort ?? null,
    tunnelAddress: `${w.address}/${w.prefixLen}`,
    mtuChain: chain ? { underlay: chain.underlay, wireguard: chain.wireguard, fits: chain.fits, mesh: chain.mesh, ok: chain.ok } : null,
    clearVxlanDropped: dropped,
    wireguardPortDropped: actual.ingress.wgDropped ?? 0,
    problem: problem ?? null,
  };
}
