import { describe, expect, it } from 'vitest';
import { formatIssue, parseConfig, type LoadResult } from '../../src/config/load.js';
import { parseIngress, parseWgDump } from '../../src/kernel/parse.js';
import { parseOwner } from '../../src/model/names.js';
import { computeMtuChain, generatePrivateKey, handshakeState, keyProblem, parseCidr4, publicKeyOf, tunnelAddress, type WireguardState } from '../../src/model/wireguard.js';
import type { ActualState } from '../../src/model/state.js';
import type { Config } from '../../src/model/types.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';
import { expectedEncryptedRules, expectedOutputRules, ingressMatches, renderIngress } from '../../src/plan/ingress.js';
import { computePlan, computeTeardown, renderPlan } from '../../src/plan/plan.js';
import type { WireguardHost } from '../../src/plan/wireguard.js';
import { emptyHost, link, phases } from '../helpers/kernel-state.js';

const file = (text: string) => ({ path: '/etc/vxmesh/peers.yaml', text });

function errors(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, config was accepted');
  return r.issues.map(formatIssue);
}

// RFC 7748 section 6.1: Alice's and Bob's X25519 keys.
const ALICE_PRIV = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
const ALICE_PUB = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');
const BOB_PUB = Buffer.from('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f', 'hex').toString('base64');
const CAROL_PUB = publicKeyOf(generatePrivateKey());

const ENCRYPTED = `mesh:
  encryption: wireguard
peers:
  - { name: a, id: 1, address: 198.18.0.1, public_key: "${ALICE_PUB}" }
  - { name: b, id: 2, address: 198.18.0.2, public_key: "${BOB_PUB}" }
  - { name: c, id: 3, address: 198.18.0.3, public_key: "${CAROL_PUB}" }
`;

function config(text: string): Config {
  const r = parseConfig([file(text)]);
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return r.config;
}

const HOST: WireguardHost = { implementation: 'userspace', problem: undefined, keyFile: '/var/lib/vxmesh/wireguard.key', publicKey: ALICE_PUB, keyProblem: undefined };

function computeDesiredFor(cfg: Config, host: WireguardHost | undefined, _actual: ActualState) {
  const self = findSelf(cfg, undefined, new Map([['198.18.0.1', 'eth0']]));
  if (!self.ok) throw new Error(self.reason);
  return computeDesired({ ...cfg, mesh: { ...cfg.mesh, probe: { ...cfg.mesh.probe, enabled: false } } }, self.self, self.underlay, self.local, host);
}

/** A host with eth0 at `mtu`. */
function host(mtu = 1560): ActualState {
  const h = emptyHost();
  h.links.set('eth0', link('eth0', { addresses: ['198.18.0.1'], mtu }));
  return h;
}

describe('keys', () => {
  it('derives the public key with node crypto as WireGuard does (RFC 7748 vectors)', () => {
    expect(publicKeyOf(ALICE_PRIV)).toBe(ALICE_PUB);
  });

  it('makes clamped keys whose public half is a valid key', () => {
    const k = generatePrivateKey();
    expect(keyProblem(k)).toBeUndefined();
    const raw = Buffer.from(k, 'base64');
    expect(raw[0]! & 7).toBe(0);
    expect(raw[31]! & 0xc0).toBe(0x40);
    expect(keyProblem(publicKeyOf(k))).toBeUndefined();
    expect(generatePrivateKey()).not.toBe(k);
  });

  it('refuses what is not a key: wrong length, not base64, the zero key', () => {
    expect(keyProblem('abc')).toMatch(/base64 of 32 bytes/);
    expect(keyProblem(`${ALICE_PUB.slice(0, 43)}`)).toMatch(/base64 of 32 bytes/);
    expect(keyProblem(`${ALICE_PUB.slice(0, 42)}!=`)).toMatch(/base64 of 32 bytes/);
    expect(keyProblem(Buffer.alloc(32).toString('base64'))).toMatch(/all-zero/);
    // 32 bytes end in a character whose low 4 bits are 0 ('=' padding of 2 bits): 'B=' is not canonical.
    expect(keyProblem(`${ALICE_PUB.slice(0, 42)}B=`)).toMatch(/base64 of 32 bytes/);
  });
});

describe('tunnel addresses and the MTU chain', () => {
  it('derives each peer\'s tunnel address from its id, in a range', () => {
    const r = parseCidr4('100.127.0.0/16')!;
    expect([tunnelAddress(r, 1), tunnelAddress(r, 300), tunnelAddress(r, 65534)]).toEqual(['100.127.0.1', '100.127.1.44', '100.127.255.254']);
    expect([tunnelAddress(r, 0), tunnelAddress(r, 65535)]).toEqual([undefined, undefined]);
    expect(tunnelAddress(parseCidr4('169.254.192.0/18')!, 300)).toBe('169.254.193.44');
    expect(parseCidr4('100.127.0.1/16')).toBeUndefined();
    expect(parseCidr4('100.127.0.0/31')).toBeUndefined();
    expect(parseCidr4('300.1.0.0/16')).toBeUndefined();
  });

  it('computes underlay - 60/80 - 50 and says what to do when the mesh MTU does not fit', () => {
    expect(computeMtuChain(1560, 4, 1450)).toMatchObject({ underlay: 1560, wireguard: 1500, fits: 1450, ok: true, problem: undefined });
    expect(computeMtuChain(1580, 6, 1450)).toMatchObject({ wireguard: 1500, fits: 1450, ok: true });
    expect(computeMtuChain(1500, 4, 1450)).toMatchObject({ wireguard: 1440, fits: 1390, ok: false });
    expect(computeMtuChain(1500, 4, 1450).problem).toBe('mesh mtu 1450 does not fit: underlay 1500 - 60 (WireGuard over IPv4) = 1440, - 50 (VXLAN) = 1390; raise the underlay MTU to 1560 (jumbo frames), or set mesh.mtu: 1390');
    expect(computeMtuChain(1500, 6, 1450).problem).toContain('raise the underlay MTU to 1580 (jumbo frames), or set mesh.mtu: 1370');
  });

  it('calls a handshake stale after 180 s', () => {
    expect([handshakeState(0, 1000), handshakeState(900, 1000), handshakeState(819, 1000)]).toEqual(['never', 'ok', 'stale']);
  });
});

describe('encryption config', () => {
  it('defaults to none; takes wireguard with port, device and tunnel range', () => {
    expect(config(`peers:\n  - { name: a, id: 1, address: 198.18.0.1 }\n`).mesh).toMatchObject({ encryption: 'none', wireguard: { port: 51820, device: 'vxwg0', tunnelRange: '169.254.192.0/18' } });
    const c = config(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: wireguard\n  wireguard: { port: 51900, device: wg-mesh, tunnel_range: 100.127.0.0/16 }\n'));
    expect(c.mesh).toMatchObject({ encryption: 'wireguard', wireguard: { port: 51900, device: 'wg-mesh', tunnelRange: '100.127.0.0/16' } });
    expect(c.peers[1]!.publicKey).toBe(BOB_PUB);
  });

  it('says that ingress_filter: false does not switch the filter off in encrypted mode', () => {
    expect(config(ENCRYPTED.replace('mesh:\n', 'mesh:\n  ingress_filter: false\n')).warnings).toContain('ingress_filter: false has no effect with encryption: wireguard: the filter (WireGuard port only from peers, VXLAN only through WireGuard, no clear VXLAN out) is part of failing closed');
  });

  it('refuses multicast with wireguard, at the encryption key', () => {
    expect(errors(parseConfig([file(ENCRYPTED.replace('mesh:\n', 'mesh:\n  mode: multicast\n  vni: 5\n  group: 239.1.1.1\n'))]))).toEqual([
      '/etc/vxmesh/peers.yaml:5:15: mesh.encryption: wireguard cannot carry multicast mode: WireGuard is point-to-point and drops multicast floods; use mode: flood-list (head-end replication, encrypted) or per-peer',
    ]);
  });

  it('names a peer without a public key, and points at a malformed one', () => {
    expect(errors(parseConfig([file(ENCRYPTED.replace(`, public_key: "${BOB_PUB}"`, ''))]))).toEqual([
      '/etc/vxmesh/peers.yaml:5:5: peers[1].public_key: peer "b" has no public_key, and with mesh.encryption: wireguard a peer without one gets no link (run `vxmesh pubkey` on b and add what it prints)',
    ]);
    expect(errors(parseConfig([file(ENCRYPTED.replace(BOB_PUB, 'not-a-key'))]))).toEqual([
      '/etc/vxmesh/peers.yaml:5:56: peers[1].public_key: must be a WireGuard key: base64 of 32 bytes, 44 characters ending in "=" (what `vxmesh pubkey` or `wg pubkey` prints)',
    ]);
    // Malformed keys are errors in clear mode too: the file is one for every server.
    expect(errors(parseConfig([file(`peers:\n  - { name: a, id: 1, address: 198.18.0.1, public_key: xyz }\n`)]))[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:2:56: peers\[0\]\.public_key: must be a WireGuard key/);
  });

  it('refuses a key used twice, a legacy peer, the VXLAN port for WireGuard, an id without a tunnel address', () => {
    expect(errors(parseConfig([file(ENCRYPTED.replace(CAROL_PUB, BOB_PUB))]))[0]).toMatch(/peers\[2\]\.public_key: peer "c" has the same public_key as peer "b"/);
    expect(errors(parseConfig([file(`${ENCRYPTED}  - { name: old, id: 4, address: 198.18.0.4, legacy: { remotes: [198.18.0.1] } }\n`)])).join('\n')).toMatch(/peers\[3\]\.legacy: peer "old" runs vxlansetup.sh, which cannot encrypt/);
    expect(errors(parseConfig([file(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: wireguard\n  wireguard: { port: 4789 }\n'))]))).toEqual(['/etc/vxmesh/peers.yaml:3:22: mesh.wireguard.port: 4789 is also mesh.port, the VXLAN port: WireGuard needs a UDP port of its own']);
    expect(errors(parseConfig([file(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: wireguard\n  wireguard: { tunnel_range: 100.127.0.0/30 }\n'))]))).toEqual(['/etc/vxmesh/peers.yaml:7:20: peers[2].id: id 3 has no tunnel address in mesh.wireguard.tunnel_range 100.127.0.0/30 (ids 1-2; use a larger range)']);
    expect(errors(parseConfig([file(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: wireguard\n  wireguard: { tunnel_range: 100.127.0.1/16 }\n'))]))[0]).toMatch(/:3:30: mesh\.wireguard\.tunnel_range: must be an IPv4 network in CIDR form/);
  });
});

describe('encrypted planning', () => {
  const cfg = config(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: wireguard\n  wireguard: { tunnel_range: 100.127.0.0/16 }\n'));

  it('desired: one wg peer per remote with only its tunnel address; VXLAN on tunnel addresses over the WireGuard interface', () => {
    const d = computeDesiredFor(cfg, HOST, host());
    expect(d.wireguard!.peers).toEqual([
      { name: 'b', publicKey: BOB_PUB, endpoint: '198.18.0.2:51820', allowedIp: '100.127.0.2/32' },
      { name: 'c', publicKey: CAROL_PUB, endpoint: '198.18.0.3:51820', allowedIp: '100.127.0.3/32' },
    ]);
    expect(d.devices.map((x) => [x.device, x.local, x.remotes, x.underlay])).toEqual([
      ['vxlan2', '100.127.0.1', ['100.127.0.2'], 'vxwg0'],
      ['vxlan3', '100.127.0.1', ['100.127.0.3'], 'vxwg0'],
    ]);
    expect(d.ingress).toMatchObject({ port: 4789, local: ['198.18.0.1'], peers4: ['198.18.0.2', '198.18.0.3'], wireguard: { port: 51820, device: 'vxwg0', range: '100.127.0.0/16', tunnel: '100.127.0.1' } });
  });

  it('plan on a fresh host: filter first (with the output rule), then wireguard-go, the interface, wg set with the key file path, then VXLAN over it', () => {
    const plan = computePlan(computeDesiredFor(cfg, HOST, host()), host());
    expect(plan.steps.map((s) => `${s.phase}:${s.tool}`).slice(0, 5)).toEqual(['ingress:nft', 'wireguard:wireguard-go', 'wireguard:ip', 'wireguard:wg', 'links:ip']);
    const p = phases(plan);
    expect(p.nft).toContain('chain output {');
    expect(p.nft).toContain('udp dport 4789 ip daddr @peers4 counter name clear_out drop');
    expect(p.nft).toContain('udp dport 4789 ip daddr 100.127.0.0/16 oifname != "vxwg0" counter name clear_out drop');
    expect(p.nft).toContain('udp dport 4789 iifname "vxwg0" ip saddr 100.127.0.0/16 accept');
    expect(p.nft).toContain('udp dport 51820 counter name wg_dropped drop');
    expect(plan.steps[1]!.args).toEqual(['vxwg0']);
    expect(plan.steps[2]!.input!.trimEnd().split('\n')).toEqual(['link set dev vxwg0 alias vxmesh:wireguard', 'link set dev vxwg0 addrgenmode none', 'link set dev vxwg0 mtu 1500', 'addr add 100.127.0.1/16 dev vxwg0', 'link set dev vxwg0 up']);
    expect(plan.steps[3]!.args).toEqual(['set', 'vxwg0', 'private-key', '/var/lib/vxmesh/wireguard.key', 'listen-port', '51820', 'peer', BOB_PUB, 'endpoint', '198.18.0.2:51820', 'allowed-ips', '100.127.0.2/32', 'peer', CAROL_PUB, 'endpoint', '198.18.0.3:51820', 'allowed-ips', '100.127.0.3/32']);
    expect(p.pre).toContain('link add name vxlan2 mtu 1450 type vxlan id 100002 remote 100.127.0.2 local 100.127.0.1 dev vxwg0 dstport 4789 nolearning');
    // Nothing secret in any step: keys go to wg as the file's path.
    expect(renderPlan(plan)).not.toContain(ALICE_PRIV);
    expect(plan.steps.some((s) => s.secret)).toBe(false);
  });

  it('the kernel module when there is one; the VXLAN MTU follows a small underlay (1500 - 60 - 50)', () => {
    const plan = computePlan(computeDesiredFor(cfg, { ...HOST, implementation: 'kernel' }, host(1500)), host(1500));
    expect(plan.steps.some((s) => s.tool === 'wireguard-go')).toBe(false);
    const wgIp = plan.steps.find((s) => s.phase === 'wireguard' && s.tool === 'ip')!.input!;
    expect(wgIp).toMatch(/^link add name vxwg0 type wireguard\n/);
    expect(wgIp).toContain('link set dev vxwg0 mtu 1440');
    expect(phases(plan).pre).toContain('link add name vxlan2 mtu 1390 type vxlan id 100002 remote 100.127.0.2 local 100.127.0.1 dev vxwg0 dstport 4789 nolearning');
  });

  /** The host after a converged encrypted reconcile (as observe reads it). */
  function converged(wg: WireguardState): ActualState {
    const d = computeDesiredFor(cfg, HOST, host());
    const a = host();
    a.links.set('vxbr0', link('vxbr0', { kind: 'bridge', alias: 'vxmesh:bridge', mtu: 1450 }));
    a.links.set('vxwg0', link('vxwg0', { kind: 'tun', alias: 'vxmesh:wireguard', mtu: 1500, addresses: ['100.127.0.1'], prefixLens: new Map([['100.127.0.1', 16]]) }));
    for (const dev of d.devices) a.links.set(dev.device, link(dev.device, { kind: 'vxlan', alias: dev.alias, mtu: 1450, master: 'vxbr0', isolated: true, vxlan: { vni: dev.vni, remote: dev.remotes[0], local: dev.local, link: 'vxwg0', port: 4789, learning: false, group: undefined, ttl: 0 } }));
    a.ebtables = { available: true, error: undefined, chainExists: true, chain: ['-o ! vxlan+ -j RETURN', '-i vxlan2 -o vxlan+ -j DROP', '-i vxlan3 -o vxlan+ -j DROP'], jumps: 1 };
    a.ingress = { available: true, error: undefined, present: true, peers4: ['198.18.0.2', '198.18.0.3'], peers6: [], rules: expectedEncryptedRules(d.ingress!), outputRules: expectedOutputRules(d.ingress!), dropped: 0, droppedBytes: 0 };
    a.wireguard = wg;
    return a;
  }
  const peer = (publicKey: string, n: number) => [publicKey, { publicKey, endpoint: `198.18.0.${n}:51820`, allowedIps: [`100.127.0.${n}/32`], latestHandshake: 0, rxBytes: 0, txBytes: 0 }] as const;
  const wgState = (...peers: (readonly [string, WireguardState['peers'] extends Map<string, infer V> ? V : never])[]): WireguardState => ({ device: 'vxwg0', publicKey: ALICE_PUB, listenPort: 51820, peers: new Map(peers) });

  it('converged: nothing to do; a peer\'s new key replaces that one wg peer only', () => {
    const d = computeDesiredFor(cfg, HOST, host());
    expect(renderPlan(computePlan(d, converged(wgState(peer(BOB_PUB, 2), peer(CAROL_PUB, 3)))))).toBe('');
    const oldCarol = publicKeyOf(generatePrivateKey());
    const plan = computePlan(d, converged(wgState(peer(BOB_PUB, 2), peer(oldCarol, 3))));
    expect(plan.steps.map((s) => [s.tool, ...s.args])).toEqual([['wg', 'set', 'vxwg0', 'peer', CAROL_PUB, 'endpoint', '198.18.0.3:51820', 'allowed-ips', '100.127.0.3/32', 'peer', oldCarol, 'remove']]);
    // Another private key on the interface: set from the file, peers untouched.
    const rekeyed = computePlan(d, converged({ ...wgState(peer(BOB_PUB, 2), peer(CAROL_PUB, 3)), publicKey: BOB_PUB }));
    expect(rekeyed.steps.map((s) => s.args)).toEqual([['set', 'vxwg0', 'private-key', '/var/lib/vxmesh/wireguard.key']]);
  });

  it('fails closed: without WireGuard or a key no VXLAN device is made, clear ones are removed, the filter still goes in', () => {
    for (const h of [{ ...HOST, implementation: undefined, problem: 'no WireGuard on this host' }, { ...HOST, publicKey: undefined, keyProblem: 'cannot use the key' }]) {
      const clear = host();
      clear.links.set('vxlan2', link('vxlan2', { kind: 'vxlan', alias: 'vxmesh:b', master: 'vxbr0', vxlan: { vni: 100002, remote: '198.18.0.2', local: '198.18.0.1', link: 'eth0', port: 4789, learning: false, group: undefined, ttl: 0 } }));
      const plan = computePlan(computeDesiredFor(cfg, h, clear), clear);
      const p = phases(plan);
      expect(plan.blocked[0]).toMatch(/^no encrypted link is made: /);
      expect(p.nft).toContain('clear_out drop');
      expect(p.pre).toContain('link del dev vxlan2');
      expect(p.pre.some((l) => l.startsWith('link add name vxlan'))).toBe(false);
      expect(plan.steps.some((s) => s.phase === 'wireguard')).toBe(false);
    }
  });

  it('a wireguard-go that wg cannot reach (its socket gone) is made anew, delete first', () => {
    const a = converged(wgState());
    delete a.wireguard;
    a.wireguardError = 'wg show vxwg0 dump failed (exit 1): Unable to access interface: Protocol not supported';
    const plan = computePlan(computeDesiredFor(cfg, HOST, a), a);
    expect(plan.steps.slice(0, 3).map((s) => [s.tool, s.input ?? s.args.join(' ')])).toEqual([
      ['ip', 'link del dev vxwg0\n'],
      ['wireguard-go', 'vxwg0'],
      ['ip', 'link set dev vxwg0 alias vxmesh:wireguard\nlink set dev vxwg0 addrgenmode none\nlink set dev vxwg0 mtu 1500\naddr add 100.127.0.1/16 dev vxwg0\nlink set dev vxwg0 up\n'],
    ]);
    expect(plan.changes[0]).toMatch(/^recreate WireGuard interface vxwg0: wg cannot reach its wireguard-go/);
  });

  it('an interface of that name vxmesh did not make blocks every encrypted link', () => {
    const a = host();
    a.links.set('vxwg0', link('vxwg0', { kind: 'wireguard', alias: undefined }));
    const plan = computePlan(computeDesiredFor(cfg, HOST, a), a);
    expect(plan.blocked).toEqual(['vxwg0 exists and is not managed by vxmesh (alias ""); no encrypted link is made (delete it, or set mesh.wireguard.device)']);
    expect(phases(plan).pre.some((l) => l.includes('vxwg0') || l.startsWith('link add name vxlan'))).toBe(false);
  });

  it('encryption off: the VXLAN devices go back to the underlay, then the owned interface goes; stop removes it', () => {
    const clearCfg = config(ENCRYPTED.replace('  encryption: wireguard\n', '  encryption: none\n'));
    const a = converged(wgState(peer(BOB_PUB, 2), peer(CAROL_PUB, 3)));
    const p = phases(computePlan(computeDesiredFor(clearCfg, undefined, a), a));
    expect(p.pre).toContain('link add name vxlan2 mtu 1450 type vxlan id 100002 remote 198.18.0.2 local 198.18.0.1 dev eth0 dstport 4789 nolearning');
    expect(p.post).toContain('link del dev vxwg0');
    expect(p.nft).not.toContain('chain output');
    expect(phases(computeTeardown(a)).pre).toContain('link del dev vxwg0');
  });

  it('the WireGuard interface is owned by its alias, a tun or wireguard link only', () => {
    expect(parseOwner('vxmesh:wireguard', 'tun', false)).toMatchObject({ role: 'wireguard' });
    expect(parseOwner('vxmesh:wireguard', 'wireguard', false)).toMatchObject({ role: 'wireguard' });
    expect(parseOwner('vxmesh:wireguard', 'vxlan', true)?.role).toBe('peer');
    expect(parseOwner('vxmesh:wireguard', 'veth', false)).toBeUndefined();
  });
});

describe('reading WireGuard and the encrypted filter back', () => {
  it('parses wg show dump and never keeps the private key', () => {
    const dump = `${ALICE_PRIV}\t${ALICE_PUB}\t51820\toff\n${BOB_PUB}\t(none)\t198.18.0.2:51820\t100.127.0.2/32\t1764680000\t1234\t5678\toff\n${CAROL_PUB}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n`;
    const s = parseWgDump('vxwg0', dump);
    expect(s.publicKey).toBe(ALICE_PUB);
    expect(s.listenPort).toBe(51820);
    expect(s.peers.get(BOB_PUB)).toEqual({ publicKey: BOB_PUB, endpoint: '198.18.0.2:51820', allowedIps: ['100.127.0.2/32'], latestHandshake: 1764680000, rxBytes: 1234, txBytes: 5678 });
    expect(s.peers.get(CAROL_PUB)).toMatchObject({ endpoint: undefined, allowedIps: [], latestHandshake: 0 });
    expect(JSON.stringify({ ...s, peers: [...s.peers] })).not.toContain(ALICE_PRIV);
  });

  it('reads the encrypted table as nft -j prints it (captured from nft 1.0.6), and it matches what was rendered', () => {
    const d = { port: 4789, local: ['198.18.0.1'], peers4: ['198.18.0.2'], peers6: [], wireguard: { port: 51820, device: 'vxwg0', range: '100.127.0.0/16', tunnel: '100.127.0.1' } };
    expect(renderIngress(d, { packets: 0, bytes: 0 })).toContain('udp dport 4789 ip daddr 100.127.0.1 counter name dropped drop');
    const m = (left: unknown, right: unknown, op = '==') => ({ match: { op, left, right } });
    const dport = (p: number) => m({ payload: { protocol: 'udp', field: 'dport' } }, p);
    const rule = (chain: string, ...expr: unknown[]) => ({ rule: { family: 'inet', table: 'vxmesh', chain, expr } });
    const json = JSON.stringify({
      nftables: [
        { table: { family: 'inet', name: 'vxmesh' } },
        { set: { name: 'peers4', elem: ['198.18.0.2'] } },
        { set: { name: 'peers6' } },
        { counter: { name: 'dropped', packets: 3, bytes: 300 } },
        { counter: { name: 'clear_out', packets: 7, bytes: 0 } },
        { counter: { name: 'wg_dropped', packets: 1, bytes: 0 } },
        rule('input', dport(51820), m({ payload: { protocol: 'ip', field: 'saddr' } }, '@peers4'), { accept: null }),
        rule('input', dport(51820), m({ payload: { protocol: 'ip6', field: 'saddr' } }, '@peers6'), { accept: null }),
        rule('input', dport(51820), { counter: 'wg_dropped' }, { drop: null }),
        rule('input', dport(4789), m({ meta: { key: 'iifname' } }, 'vxwg0'), m({ payload: { protocol: 'ip', field: 'saddr' } }, { prefix: { addr: '100.127.0.0', len: 16 } }), { accept: null }),
        rule('input', dport(4789), m({ payload: { protocol: 'ip', field: 'daddr' } }, '198.18.0.1'), { counter: 'dropped' }, { drop: null }),
        rule('input', dport(4789), m({ payload: { protocol: 'ip', field: 'daddr' } }, '100.127.0.1'), { counter: 'dropped' }, { drop: null }),
        rule('output', dport(4789), m({ payload: { protocol: 'ip', field: 'daddr' } }, '@peers4'), { counter: 'clear_out' }, { drop: null }),
        rule('output', dport(4789), m({ payload: { protocol: 'ip6', field: 'daddr' } }, '@peers6'), { counter: 'clear_out' }, { drop: null }),
        rule('output', dport(4789), m({ payload: { protocol: 'ip', field: 'daddr' } }, { prefix: { addr: '100.127.0.0', len: 16 } }), m({ meta: { key: 'oifname' } }, 'vxwg0', '!='), { counter: 'clear_out' }, { drop: null }),
      ],
    });
    const st = { available: true, error: undefined, ...parseIngress(json) };
    expect(st).toMatchObject({ dropped: 3, clearOut: 7, wgDropped: 1 });
    expect(ingressMatches(d, st)).toBe(true);
    // An output rule removed by hand is a difference: the table is written again.
    expect(ingressMatches(d, { ...st, outputRules: st.outputRules!.slice(0, 2) })).toBe(false);
  });
});
