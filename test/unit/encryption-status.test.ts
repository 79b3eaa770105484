import { describe, expect, it } from 'vitest';
import { wgLinkStatus } from '../../src/daemon/encryption-status.js';
import type { DesiredLink } from '../../src/plan/desired.js';
import type { WireguardDesired } from '../../src/plan/wireguard.js';
import { emptyHost, link } from '../helpers/kernel-state.js';

const KEY = 'hU1/6ztBxhxAq6mvdVhWMx5b3bqCZtoxFDe9HCMbrhM=';
const w = { device: 'vxwg0', port: 51820, peers: [{ name: 'b', publicKey: KEY, endpoint: '198.18.0.2:51820', allowedIp: '100.127.0.2/32' }] } as unknown as WireguardDesired;
const d = { peer: 'b' } as DesiredLink;

function host(latestHandshake: number, txBytes: number) {
  const a = emptyHost();
  a.links.set('vxwg0', link('vxwg0', { kind: 'tun' }));
  a.wireguard = { device: 'vxwg0', publicKey: undefined, listenPort: 51820, peers: new Map([[KEY, { publicKey: KEY, endpoint: '198.18.0.2:51820', allowedIps: ['100.127.0.2/32'], latestHandshake, rxBytes: 0, txBytes }]]) };
  return a;
}

describe('a WireGuard link in status', () => {
  it('never shaken hands though it sent: names the key, the endpoint and the likely causes', () => {
    const s = wgLinkStatus(d, w, host(0, 148), 1000)!;
    expect(s).toMatchObject({ handshake: 'never', handshakeAgeSeconds: null, publicKey: 'hU1/6ztB…' });
    expect(s.problem).toBe("no handshake: key mismatch, or UDP 51820 blocked (this server expects b's public key hU1/6ztB… and sends to 198.18.0.2:51820)");
    // Nothing sent yet: no verdict.
    expect(wgLinkStatus(d, w, host(0, 0), 1000)!.problem).toBeNull();
  });

  it('a stale handshake is an idle link, a problem only when link health finds the link dead', () => {
    expect(wgLinkStatus(d, w, host(700, 5000), 1000)).toMatchObject({ handshake: 'stale', handshakeAgeSeconds: 300, problem: null });
    expect(wgLinkStatus(d, w, host(700, 5000), 1000, true)!.problem).toMatch(/^no handshake for 300 s: key changed, or UDP 51820 blocked/);
    expect(wgLinkStatus(d, w, host(950, 5000), 1000)).toMatchObject({ handshake: 'ok', handshakeAgeSeconds: 50, problem: null });
  });

  it('the interface or the peer missing', () => {
    const gone = emptyHost();
    expect(wgLinkStatus(d, w, gone, 1000)!.problem).toBe('WireGuard interface vxwg0 is missing');
    const nopeer = host(0, 0);
    nopeer.wireguard!.peers.clear();
    expect(wgLinkStatus(d, w, nopeer, 1000)!.problem).toMatch(/^no WireGuard peer with public key hU1\/6ztB… on vxwg0/);
  });
});
