import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PEERS, config } from '../helpers/config.js';
import { formatIssue, parseConfig } from '../../src/config/load.js';
import { expandV6, idFromProbeAddress, isProbeAddress, probeAddressV4, probeAddressV6 } from '../../src/model/probe-address.js';
import { chooseProbeAddress, planProbeAddress, planProbeAddressRemoval } from '../../src/plan/probe-address.js';
import { computeConfigFacts, diffAgreement, type OurSide } from '../../src/health/agreement.js';
import { createHash } from 'node:crypto';
import { computeLinkHealth, type LinkHealthInput } from '../../src/health/link-health.js';
import { describeUnderlay, knockProbePort } from '../../src/health/checks.js';
import { TokenBucket } from '../../src/health/rate-limit.js';
import { computeProbeSetup } from '../../src/daemon/probe-setup.js';
import { VERSION as VXMESH_VERSION } from '../../src/version.js';
import { LinkWindow } from '../../src/health/window.js';
import { HEADER_BYTES, MAC_BYTES, TAG_BYTES, WIRE_PROTOCOL, encodeProbe, parseProbe, randomSeq, type ProbeInfo } from '../../src/health/wire.js';
import type { Ipv6State, LinkInfo } from '../../src/model/state.js';
import type { Config } from '../../src/model/types.js';
import { computeDesired, findSelf } from '../../src/plan/desired.js';


const INFO: ProbeInfo = { node: 'b', version: '0.1.0', vni: 100002, mtu: 1450, port: 4789, peers: 3, peersDigest: '0123456789abcdef', meshDigest: 'fedcba9876543210' };
const KEY = Buffer.from('correct horse battery staple');

describe('probe address derivation', () => {
  it('derives a marked IPv6 link-local address from the id, compressed as ip prints it', () => {
    expect(probeAddressV6(1)).toBe('fe80::7678:0:0:1');
    expect(probeAddressV6(65536)).toBe('fe80::7678:0:1:0');
    expect(probeAddressV6(9_999_999_999)).toBe('fe80::7678:2:540b:e3ff');
    expect(probeAddressV6(0)).toBe('fe80::7678:0:0:0');
    expect(() => probeAddressV6(-1)).toThrow(/does not fit/);
    expect(() => probeAddressV6(1.5)).toThrow(/does not fit/);
  });

  it('maps an address back to its id, and knows only its own addresses', () => {
    for (const id of [0, 1, 2, 300, 65535, 65536, 9_999_999_999]) expect(idFromProbeAddress(probeAddressV6(id))).toBe(id);
    expect(idFromProbeAddress('fe80::7678:0:0:2%vxbr0')).toBe(2);
    expect(idFromProbeAddress('fe80::1')).toBeUndefined();
    expect(idFromProbeAddress('fe80::c1')).toBeUndefined();
    expect(isProbeAddress('fe80::7678:0:0:5')).toBe(true);
    expect(isProbeAddress('fe80::1:7678:0:0:5')).toBe(false);
    expect(isProbeAddress('2001:db8::7678:0:0:5')).toBe(false);
    expect(isProbeAddress('100.64.0.1')).toBe(false);
  });

  it('IPv4 fallback: 169.254.1.0 - 169.254.254.255, none for larger ids', () => {
    expect(probeAddressV4(0)).toBe('169.254.1.0');
    expect(probeAddressV4(1)).toBe('169.254.1.1');
    expect(probeAddressV4(300)).toBe('169.254.2.44');
    expect(probeAddressV4(65023)).toBe('169.254.254.255');
    expect(probeAddressV4(65024)).toBeUndefined();
    for (const id of [0, 1, 300, 65023]) expect(idFromProbeAddress(probeAddressV4(id)!)).toBe(id);
    expect(isProbeAddress('169.254.0.5')).toBe(false);
    expect(isProbeAddress('169.254.255.5')).toBe(false);
  });

  it('expands IPv6 text and refuses what is not IPv6', () => {
    expect(expandV6('fe80::7678:0:0:1')).toEqual([0xfe80, 0, 0, 0, 0x7678, 0, 0, 1]);
    expect(expandV6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const bad of ['1::2::3', 'fe80::g', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '12345::1']) expect(expandV6(bad)).toBeUndefined();
  });
});

const V6_ON: Ipv6State = { kernel: true, allDisabled: false, defaultDisabled: false, disabled: new Map() };
const bridge = (addresses: string[], extra: Partial<LinkInfo> = {}): LinkInfo => ({ name: 'vxbr0', ifindex: 3, kind: 'bridge', up: true, mtu: 1450, master: undefined, alias: 'vxmesh:bridge', vxlan: undefined, isolated: undefined, addresses, stats: { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 }, ...extra });

describe('probe address in the plan', () => {
  it('adds the IPv6 address without DAD, and nothing once it is there', () => {
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', bridge(['fe80::abcd']), V6_ON).lines).toEqual(['addr add fe80::7678:0:0:2/64 dev vxbr0 nodad']);
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', bridge(['fe80::abcd', 'fe80::7678:0:0:2']), V6_ON).lines).toEqual([]);
    // Still to be created by the same batch.
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', undefined, V6_ON).lines).toEqual(['addr add fe80::7678:0:0:2/64 dev vxbr0 nodad']);
  });

  it('falls back to IPv4 link-local where IPv6 is off, and says why when neither works', () => {
    const off: Ipv6State = { ...V6_ON, disabled: new Map([['vxbr0', true]]) };
    expect(chooseProbeAddress({ bridge: 'vxbr0', id: 2 }, off)).toEqual({ ok: true, family: 4, address: '169.254.1.2' });
    expect(chooseProbeAddress({ bridge: 'vxbr0', id: 2 }, { ...V6_ON, kernel: false })).toEqual({ ok: true, family: 4, address: '169.254.1.2' });
    expect(chooseProbeAddress({ bridge: 'vxbr0', id: 2 }, { ...V6_ON, defaultDisabled: true })).toMatchObject({ family: 4 });
    expect(chooseProbeAddress({ bridge: 'vxbr0', id: 2 }, { ...V6_ON, defaultDisabled: true, disabled: new Map([['vxbr0', false]]) })).toMatchObject({ family: 6 });
    const none = chooseProbeAddress({ bridge: 'vxbr0', id: 70_000 }, off);
    expect(none).toEqual({ ok: false, reason: expect.stringMatching(/IPv6 is disabled on vxbr0 and peer id 70000 is too large/) });
    // The v6 address stays from before IPv6 was turned off: it is swapped for the v4 one.
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', bridge(['fe80::7678:0:0:2']), off).lines).toEqual(['addr del fe80::7678:0:0:2/64 dev vxbr0', 'addr add 169.254.1.2/17 dev vxbr0']);
    // Not an id whose address lies outside the routed 169.254.0.0/17 (169.254.169.254 is cloud metadata).
    expect(chooseProbeAddress({ bridge: 'vxbr0', id: 168 * 256 + 254 }, off)).toEqual({ ok: false, reason: expect.stringMatching(/ids up to 32511/) });
    // A /16 from before is made again as /17.
    const old = { ...bridge(['169.254.1.2']), prefixLens: new Map([['169.254.1.2', 16]]) };
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', old, off).lines).toEqual(['addr del 169.254.1.2/16 dev vxbr0', 'addr add 169.254.1.2/17 dev vxbr0']);
  });

  it('removes stale marked addresses (id changed, probing off) and leaves every other address alone', () => {
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', bridge(['fe80::7678:0:0:7', '100.64.0.1', 'fe80::1']), V6_ON).lines).toEqual(['addr del fe80::7678:0:0:7/64 dev vxbr0', 'addr add fe80::7678:0:0:2/64 dev vxbr0 nodad']);
    expect(planProbeAddress(undefined, 'vxbr0', bridge(['fe80::7678:0:0:2', '100.64.0.1']), V6_ON).lines).toEqual(['addr del fe80::7678:0:0:2/64 dev vxbr0']);
    expect(planProbeAddress({ bridge: 'vxbr0', id: 2 }, 'vxbr0', bridge([], { kind: 'dummy' }), V6_ON).lines).toEqual([]);
  });

  it('stop removes marked addresses from bridges vxmesh did not create', () => {
    const foreign = bridge(['fe80::7678:0:0:2', '100.64.0.1'], { name: 'br-lan', alias: undefined });
    const own = bridge(['fe80::7678:0:0:2']);
    const r = planProbeAddressRemoval([foreign, own], (l) => l.alias === 'vxmesh:bridge');
    expect(r.lines).toEqual(['addr del fe80::7678:0:0:2/64 dev br-lan']);
  });
});

describe('probe wire format', () => {
  it('round-trips a request and a response, padded to the size asked for', () => {
    const req = encodeProbe({ kind: 'request', seq: 42, sender: 1, target: 9_999_999_999, size: 1402 }, undefined);
    expect(req.length).toBe(1402);
    expect(parseProbe(req, undefined)).toEqual({ ok: true, message: { kind: 'request', seq: 42, sender: 1, target: 9_999_999_999, authenticated: false, signed: false, protocol: 1 } });
    const resp = encodeProbe({ kind: 'response', seq: 0xffffffff, sender: 2, target: 1, info: INFO }, undefined);
    expect(resp.length).toBe(HEADER_BYTES + Buffer.byteLength(JSON.stringify(INFO)));
    const r = parseProbe(resp, undefined);
    expect(r.ok && r.message.info).toEqual(INFO);
    expect(r.ok && r.message.seq).toBe(0xffffffff);
  });

  it('header layout is fixed: magic, version, type, flags, lengths, sequence, ids', () => {
    const b = encodeProbe({ kind: 'request', seq: 0x01020304, sender: 5, target: 6 }, undefined);
    expect(b.subarray(0, 12).toString('hex')).toBe(Buffer.from('VXMP').toString('hex') + '01' + '01' + '00' + '00' + '0000' + '0020');
    expect(b.readUInt32BE(12)).toBe(0x01020304);
    expect(b.readBigUInt64BE(16)).toBe(5n);
    expect(b.readBigUInt64BE(24)).toBe(6n);
  });

  it('refuses malformed datagrams with a reason, never throws', () => {
    const good = encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1, info: INFO }, undefined);
    const edit = (f: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    const cases: [Buffer, RegExp][] = [
      [Buffer.alloc(0), /shorter than the header/],
      [Buffer.from('deadbeef', 'hex'), /shorter than the header/],
      [edit((b) => b.write('XXXX', 0)), /magic/],
      [edit((b) => b.writeUInt8(2, 4)), /version 2/],
      [edit((b) => b.writeUInt8(3, 5)), /type 3/],
      [edit((b) => b.writeUInt8(0x80, 6)), /flags/],
      [edit((b) => b.writeUInt16BE(5000, 8)), /body of 5000 bytes/],
      [edit((b) => b.writeUInt16BE(good.length + 1, 10)), /length field/],
      [edit((b) => b.writeUInt16BE(good.length - HEADER_BYTES + 1, 8)), /runs past/],
      [edit((b) => b.writeBigUInt64BE(2n ** 60n, 16)), /out of range/],
      [edit((b) => b.write('}', HEADER_BYTES)), /not JSON/],
      [encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1 }, undefined), /without a body/],
      [encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1, info: { ...INFO, mtu: -1 } }, undefined), /body: mtu/],
      [encodeProbe({ kind: 'request', seq: 1, sender: 2, target: 1, info: INFO }, undefined), /request with a body/],
    ];
    for (const [buf, why] of cases) {
      const r = parseProbe(buf, undefined);
      expect(r.ok, why.source).toBe(false);
      if (!r.ok) {
        expect(r.reason).toBe('malformed');
        expect(r.detail).toMatch(why);
      }
    }
    // Random bytes: always a clean refusal.
    for (let n = 0; n < 500; n++) {
      const b = Buffer.from(good);
      b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      expect(() => parseProbe(b, undefined)).not.toThrow();
    }
  });

  it('with a key: HMAC-SHA256 over header and body; a missing, wrong or tampered MAC is bad_key', () => {
    const signed = encodeProbe({ kind: 'response', seq: 7, sender: 2, target: 1, info: INFO, size: 1402 }, KEY);
    expect(signed.length).toBe(1402);
    const ok = parseProbe(signed, KEY);
    expect(ok.ok && ok.message.authenticated).toBe(true);
    expect(ok.ok && ok.message.info).toEqual(INFO);
    // Without a key of our own a signed message is readable, but not authenticated.
    const unverified = parseProbe(signed, undefined);
    expect(unverified.ok && unverified.message.authenticated).toBe(false);
    expect(unverified.ok && unverified.message.signed).toBe(true);

    const reason = (b: Buffer) => {
      const r = parseProbe(b, KEY);
      return r.ok ? 'ok' : `${r.reason}: ${r.detail}`;
    };
    expect(reason(encodeProbe({ kind: 'request', seq: 7, sender: 2, target: 1 }, undefined))).toMatch(/^bad_key: no MAC/);
    expect(reason(encodeProbe({ kind: 'request', seq: 7, sender: 2, target: 1 }, Buffer.from('another key of enough length')))).toMatch(/^bad_key: MAC does not verify/);
    const tampered = Buffer.from(signed);
    tampered.writeUInt32BE(8, 12);
    expect(reason(tampered)).toMatch(/^bad_key/);
    const bodyEdit = Buffer.from(signed);
    bodyEdit.write('c', HEADER_BYTES + bodyEdit.subarray(HEADER_BYTES).indexOf('"b"') + 1);
    expect(reason(bodyEdit)).toMatch(/^bad_key/);
    // Padding is outside the MAC but its length is inside: cutting it breaks the length check.
    expect(reason(signed.subarray(0, signed.length - 1))).toMatch(/^malformed: length field/);
    const padEdit = Buffer.from(signed);
    padEdit[padEdit.length - 1] = 1;
    expect(reason(padEdit)).toBe('ok');
    expect(minimumSigned()).toBe(HEADER_BYTES + MAC_BYTES);
  });
});

describe('probe protocol versions on the wire', () => {
  it('a request from protocol 2 carries its tag where protocol 1 sees padding; untagged requests are protocol 1', () => {
    const small = encodeProbe({ kind: 'request', seq: 9, sender: 1, target: 2 }, undefined, WIRE_PROTOCOL);
    expect(small.length).toBe(HEADER_BYTES + TAG_BYTES);
    expect(small.subarray(HEADER_BYTES).toString('hex')).toBe(Buffer.from('VP').toString('hex') + '0002');
    // The header protocol 1 reads is unchanged: body length 0, datagram length the datagram's.
    expect(small.readUInt16BE(8)).toBe(0);
    expect(small.readUInt16BE(10)).toBe(small.length);
    expect(parseProbe(small, undefined)).toMatchObject({ ok: true, message: { kind: 'request', protocol: 2 } });
    const full = encodeProbe({ kind: 'request', seq: 9, sender: 1, target: 2, size: 1402 }, KEY, WIRE_PROTOCOL);
    expect(full.length).toBe(1402);
    expect(full.subarray(HEADER_BYTES + MAC_BYTES, HEADER_BYTES + MAC_BYTES + 2).toString('latin1')).toBe('VP');
    expect(full.subarray(HEADER_BYTES + MAC_BYTES + TAG_BYTES).every((b) => b === 0)).toBe(true);
    expect(parseProbe(full, KEY)).toMatchObject({ ok: true, message: { authenticated: true, protocol: 2 } });
    expect(parseProbe(encodeProbe({ kind: 'request', seq: 9, sender: 1, target: 2, size: 1402 }, KEY), KEY)).toMatchObject({ ok: true, message: { protocol: 1 } });
    // Responses carry their protocol in the body, never a tag.
    expect(encodeProbe({ kind: 'response', seq: 9, sender: 2, target: 1, info: INFO }, undefined, WIRE_PROTOCOL).length).toBe(HEADER_BYTES + Buffer.byteLength(JSON.stringify(INFO)));
  });

  it("a protocol 1 answer parses as before; a newer answer's unknown fields are dropped, not refused", () => {
    const v1 = parseProbe(encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1, info: INFO }, undefined), undefined);
    expect(v1.ok && v1.message.info).toEqual(INFO);
    const newer = { ...INFO, protocol: 3, agree: { mtu: 1450, encryption: 'none' }, segments: [1, 2] } as ProbeInfo;
    const r = parseProbe(encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1, info: newer }, undefined), undefined);
    expect(r.ok && r.message.info).toEqual({ ...INFO, protocol: 3, agree: { mtu: 1450, encryption: 'none' } });
    // Known fields are still checked.
    const bad = parseProbe(encodeProbe({ kind: 'response', seq: 1, sender: 2, target: 1, info: { ...INFO, agree: { mtu: [1] } } as unknown as ProbeInfo }, undefined), undefined);
    expect(bad.ok).toBe(false);
  });

  it('an answer with every agreement field of this release stays far below the body cap', () => {
    const facts = computeConfigFacts(config(PEERS));
    const info: ProbeInfo = { ...INFO, node: 'n'.repeat(63), version: '1'.repeat(32), protocol: WIRE_PROTOCOL, agree: facts.agree };
    expect(Buffer.byteLength(JSON.stringify(info))).toBeLessThan(700);
  });
});

describe('sequence numbers', () => {
  it('are random per probe, not a counter a container could follow', () => {
    const seqs = Array.from({ length: 2000 }, () => randomSeq());
    for (const s of seqs) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
    expect(new Set(seqs).size).toBeGreaterThan(1990);
    let consecutive = 0;
    for (let i = 1; i < seqs.length; i++) if (seqs[i] === ((seqs[i - 1]! + 1) >>> 0)) consecutive++;
    expect(consecutive).toBeLessThan(3);
    // Spread over the whole range, not a small window of it.
    expect(Math.max(...seqs) - Math.min(...seqs)).toBeGreaterThan(2 ** 31);
  });
});

function minimumSigned(): number {
  return encodeProbe({ kind: 'request', seq: 1, sender: 1, target: 2 }, KEY).length;
}

describe('loss and RTT window', () => {
  it('counts loss from the first answer on, RTT from answered small probes, and only decided probes', () => {
    const w = new LinkWindow();
    w.recordSent(1, 'small', 0); // before the peer was up: not loss
    w.recordSent(2, 'small', 1000);
    w.recordSent(3, 'full', 1000);
    expect(w.recordAnswer(2, 1004, 800)).toBe('small');
    expect(w.recordAnswer(3, 1006, 800)).toBe('full');
    w.recordSent(4, 'small', 2000);
    w.recordSent(5, 'small', 3000);
    expect(w.recordAnswer(5, 3002, 800)).toBe('small');
    w.recordSent(6, 'small', 4000); // still within its timeout at 4500
    const s = w.summarize(4500, 800);
    expect(s.smallDone).toBe(4);
    expect(s.smallLost).toBe(1);
    expect(s.lossRatio).toBeCloseTo(1 / 3);
    expect(s.rttLastMs).toBe(2);
    expect(s.rttAvgMs).toBe(3);
    expect(s.smallLostInRow).toBe(0);
    expect(s.fullPassed).toBe(true);
    expect(s.lastAnswerAt).toBe(3002);
  });

  it('refuses unknown, repeated and late answers', () => {
    const w = new LinkWindow();
    w.recordSent(1, 'small', 0);
    expect(w.recordAnswer(99, 1, 800)).toBeUndefined();
    expect(w.recordAnswer(1, 900, 800)).toBeUndefined();
    w.recordSent(2, 'small', 1000);
    expect(w.isOutstanding(2, 1001, 800)).toBe(true);
    expect(w.recordAnswer(2, 1001, 800)).toBe('small');
    expect(w.recordAnswer(2, 1002, 800)).toBeUndefined();
    expect(w.isOutstanding(2, 1003, 800)).toBe(false);
  });

  it('knows whether a small probe was answered after the full-size ones began to go missing', () => {
    const w = new LinkWindow();
    w.recordSent(1, 'small', 0);
    w.recordAnswer(1, 1, 800);
    w.recordSent(2, 'full', 1000);
    w.recordSent(3, 'full', 1900);
    expect(w.summarize(3000, 800)).toMatchObject({ fullLostInRow: 2, smallAnsweredSinceFullLoss: false });
    w.recordSent(4, 'small', 2000);
    w.recordAnswer(4, 2001, 800);
    expect(w.summarize(3000, 800)).toMatchObject({ fullLostInRow: 2, smallAnsweredSinceFullLoss: true });
  });

  it('counts losses in a row and forgets what is older than a minute', () => {
    const w = new LinkWindow();
    w.recordSent(1, 'small', 0);
    w.recordAnswer(1, 1, 800);
    for (let i = 2; i <= 4; i++) {
      w.recordSent(i, 'small', i * 1000);
      w.recordSent(100 + i, 'full', i * 1000);
    }
    let s = w.summarize(10_000, 800);
    expect(s.smallLostInRow).toBe(3);
    expect(s.fullLostInRow).toBe(3);
    expect(s.fullPassed).toBe(false);
    expect(s.smallAnsweredSinceFullLoss).toBe(false);
    expect(s.lossRatio).toBe(0.75);
    s = w.summarize(200_000, 800);
    expect(s.smallDone).toBe(0);
    expect(s.lossRatio).toBeNull();
    expect(s.lastAnswerAt).toBe(1);
  });

  it('stays bounded at the smallest interval', () => {
    const w = new LinkWindow();
    for (let i = 0; i < 10_000; i++) w.recordSent(i, i % 2 ? 'full' : 'small', i);
    expect(w.summarize(10_000, 800).smallDone).toBeLessThanOrEqual(300);
  });
});

describe('agreement', () => {
  const facts = computeConfigFacts(config(PEERS));
  const ours: OurSide = { ...facts, peerName: 'b', vni: 100002 };
  const theirs = (over: Partial<ProbeInfo> = {}): ProbeInfo => ({ node: 'b', version: '0.1.0', vni: 100002, mtu: facts.mtu, port: facts.port, peers: facts.peers, peersDigest: facts.peersDigest, meshDigest: facts.meshDigest, ...over });

  it('agrees with itself; digests ignore peer order, node: and the key file path', () => {
    expect(diffAgreement(ours, theirs())).toEqual([]);
    const reordered = computeConfigFacts(config(`peers:\n  - { name: c, id: 3, address: 198.18.0.3 }\n  - { name: a, id: 1, address: 198.18.0.1 }\n  - { name: b, id: 2, address: 198.18.0.2 }\nnode: c\nmesh: { probe: { key_file: /etc/vxmesh/other.key, interval: 2 } }\n`));
    expect(reordered).toEqual(facts);
    // The same config read back from the state directory's JSON (unset settings have no key).
    expect(computeConfigFacts(JSON.parse(JSON.stringify(config(PEERS))) as Config)).toEqual(facts);
  });

  it('names each difference, with the peer', () => {
    const more = computeConfigFacts(config(`${PEERS}  - { name: d, id: 4, address: 198.18.0.4 }\n`));
    expect(diffAgreement(ours, theirs({ peers: more.peers, peersDigest: more.peersDigest }))).toEqual(['b has 4 peers, we have 3']);
    const moved = computeConfigFacts(config(PEERS.replace('198.18.0.3', '198.18.0.33')));
    expect(diffAgreement(ours, theirs({ peersDigest: moved.peersDigest }))).toEqual(["b's peers list differs from ours (both 3 peers; names, ids or addresses differ)"]);
    const port = computeConfigFacts(config(`mesh: { port: 8472 }\n${PEERS}`));
    expect(diffAgreement(ours, theirs({ port: port.port, meshDigest: port.meshDigest }))).toEqual(['b uses VXLAN port 8472, we use 4789']);
    const mtu = computeConfigFacts(config(`mesh: { mtu: 1400 }\n${PEERS}`));
    expect(diffAgreement(ours, theirs({ mtu: mtu.mtu, meshDigest: mtu.meshDigest }))).toEqual(['b uses MTU 1400, we use 1450']);
    const base = computeConfigFacts(config(`mesh: { vni_base: 5000 }\n${PEERS}`));
    expect(diffAgreement(ours, theirs({ vni: 5002, meshDigest: base.meshDigest }))).toEqual(['b uses VNI 5002 for this link, we use 100002', `b's mesh settings differ from ours (digest ${base.meshDigest}, ours ${facts.meshDigest})`]);
    expect(diffAgreement(ours, theirs({ vni: null }))).toEqual(['b has no link to us in its config']);
    expect(diffAgreement(ours, theirs({ node: 'x' }))).toEqual(['b answers as "x"']);
  });
});

describe('agreement across probe protocol versions (rolling upgrades)', () => {
  const facts = computeConfigFacts(config(PEERS));
  const ours: OurSide = { ...facts, peerName: 'b', vni: 100002 };
  const base = { node: 'b', version: '0.1.0', vni: 100002, mtu: facts.mtu, port: facts.port, peers: facts.peers, peersDigest: facts.peersDigest };

  /** The mesh digest as release 0.1.0 (protocol 1) computed it: every mesh setting but the probe's path and interval. */
  function v1MeshDigest(c: Config): string {
    // The mesh settings protocol 1 had: encryption, control and bgp came later (control: evpn shows in `mode`, which it hashed).
    const { probe, encryption: _e, wireguard: _w, control: _control, bgp: _bgp, ...rest } = c.mesh;
    const mesh = Object.entries({ ...rest, probe: { enabled: probe.enabled, port: probe.port } }).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return createHash('sha256').update(JSON.stringify(mesh)).digest('hex').slice(0, 16);
  }

  it('an answer from a protocol 1 peer (no protocol, no agreement fields) agrees: its mesh digest is ours', () => {
    for (const text of [PEERS, `mesh: { mode: flood-list, vni: 7000 }\n${PEERS}`, `mesh: { port: 8472, mtu: 1400, ingress_filter: false }\n${PEERS}`]) {
      const c = config(text);
      const f = computeConfigFacts(c);
      expect(f.meshDigest).toBe(v1MeshDigest(c));
      const old: ProbeInfo = { ...base, mtu: f.mtu, port: f.port, meshDigest: v1MeshDigest(c) };
      expect(diffAgreement({ ...f, peerName: 'b', vni: 100002 }, old)).toEqual([]);
    }
  });

  it('a setting added later is not in the protocol 1 digest: a config carrying it still agrees with a protocol 1 peer', () => {
    const c = config(PEERS);
    const withNew = { ...c, mesh: { ...c.mesh, compression: 'lz4' } } as unknown as Config;
    expect(computeConfigFacts(withNew).meshDigest).toBe(v1MeshDigest(c));
  });

  it('compares only the agreement fields both sides send: a newer peer\'s extra field is no difference', () => {
    const newer: ProbeInfo = { ...base, meshDigest: '0000000000000000', protocol: 3, agree: { ...facts.agree, compression: 'lz4' } };
    expect(diffAgreement(ours, newer)).toEqual([]);
    // A field we send that the peer does not know (it is older) is no difference either.
    const { bridge: _b, ...fewer } = facts.agree;
    expect(diffAgreement({ ...ours, agree: { ...facts.agree, compression: 'none' } }, { ...newer, agree: fewer })).toEqual([]);
  });

  it('names a field both know that differs, once, by name', () => {
    const other = computeConfigFacts(config(`mesh: { mode: flood-list, vni: 7000 }\n${PEERS}`));
    const answer: ProbeInfo = { ...base, meshDigest: other.meshDigest, protocol: WIRE_PROTOCOL, agree: other.agree };
    expect(diffAgreement(ours, answer)).toEqual(['b has mesh mode flood-list, we have per-peer', 'b has mesh vni 7000, we have unset']);
    const mtu = computeConfigFacts(config(`mesh: { mtu: 1400 }\n${PEERS}`));
    expect(diffAgreement(ours, { ...base, mtu: 1400, meshDigest: mtu.meshDigest, protocol: WIRE_PROTOCOL, agree: mtu.agree })).toEqual(['b uses MTU 1400, we use 1450']);
  });

  it('another protocol version is a note on an ok link, not a failure', () => {
    const summary = { smallDone: 10, smallLost: 0, lossRatio: 0, rttLastMs: 0.5, rttAvgMs: 0.6, smallLostInRow: 0, fullLostInRow: 0, fullPassed: true, smallAnsweredSinceFullLoss: false, lastAnswerAt: 1000 };
    const i: LinkHealthInput = { peer: 'b', remote: '198.18.0.2', probeAddress: 'fe80::7678:0:0:2', summary, since: 0, ours, lastInfo: { ...base, meshDigest: facts.meshDigest }, authenticated: false, tunnelIcmp: null, underlay: null, authMismatch: null };
    const h = computeLinkHealth(i);
    expect(h).toMatchObject({ state: 'ok', agreement: true, peerProtocol: 1, problem: null });
    expect(h.notes).toEqual([`b speaks probe protocol 1, we speak ${WIRE_PROTOCOL}: only the settings both know are compared`]);
    const same = computeLinkHealth({ ...i, lastInfo: { ...base, meshDigest: facts.meshDigest, protocol: WIRE_PROTOCOL, agree: facts.agree } });
    expect(same).toMatchObject({ state: 'ok', peerProtocol: WIRE_PROTOCOL, notes: [] });
  });
});

describe('link verdict', () => {
  const facts = computeConfigFacts(config(PEERS));
  const summary = { smallDone: 10, smallLost: 0, lossRatio: 0, rttLastMs: 0.5, rttAvgMs: 0.6, smallLostInRow: 0, fullLostInRow: 0, fullPassed: true, smallAnsweredSinceFullLoss: false, lastAnswerAt: 1000 };
  const input = (over: Partial<LinkHealthInput> = {}): LinkHealthInput => ({
    peer: 'b', remote: '198.18.0.2', probeAddress: 'fe80::7678:0:0:2', summary, since: 0,
    ours: { ...facts, peerName: 'b', vni: 100002 },
    lastInfo: { node: 'b', version: '0.1.0', vni: 100002, mtu: 1450, port: 4789, peers: 3, peersDigest: facts.peersDigest, meshDigest: facts.meshDigest },
    authenticated: false, tunnelIcmp: null, underlay: null, authMismatch: null, ...over,
  });
  const underlay = { at: '', hostAnswers: true, dfSize: 1500, dfPasses: true, largestPassing: null };

  it('ok when answered, agreeing and full-size passes', () => {
    const h = computeLinkHealth(input());
    expect(h).toMatchObject({ state: 'ok', reachable: true, agreement: true, fullSizePass: true, rttMs: 0.5, lossRatio: 0, problem: null });
  });

  it('unknown before the first probe is decided', () => {
    expect(computeLinkHealth(input({ summary: { ...summary, smallDone: 0, lastAnswerAt: null } })).state).toBe('unknown');
  });

  it('unknown while only full-size probes are answered (the first small one went out before the port was up): no ok without an RTT', () => {
    const h = computeLinkHealth(input({ summary: { ...summary, smallDone: 1, smallLost: 1, smallLostInRow: 1, rttLastMs: null, rttAvgMs: null } }));
    expect(h).toMatchObject({ state: 'unknown', reachable: null, rttMs: null });
  });

  it('full-size loss with small answers is a failure naming the underlay finding', () => {
    const h = computeLinkHealth(input({ summary: { ...summary, fullLostInRow: 2, fullPassed: false, smallAnsweredSinceFullLoss: true }, underlay: { ...underlay, dfPasses: false, largestPassing: 1400 } }));
    expect(h.state).toBe('failure');
    expect(h.fullSizePass).toBe(false);
    expect(h.problem).toBe('full-size frames (MTU 1450) do not cross, small ones do; the host 198.18.0.2 answers on the underlay, but a DF ping of 1500 bytes does not cross it; the largest that does is 1400 bytes');
    // One lost full-size probe alone is not a verdict.
    expect(computeLinkHealth(input({ summary: { ...summary, fullLostInRow: 1, fullPassed: false } })).fullSizePass).toBe(true);
  });

  it('full-size loss before any small probe since is answered: no size verdict yet (the whole link may be down)', () => {
    const h = computeLinkHealth(input({ summary: { ...summary, fullLostInRow: 2, fullPassed: false, smallAnsweredSinceFullLoss: false }, underlay }));
    expect(h).toMatchObject({ state: 'warning', reachable: true, fullSizePass: null });
    expect(h.problem).toBe('full-size probes lost; a small probe tells next whether frames are too large or the link is down');
  });

  it('no answers: checking, then daemon down (warning) or unreachable (failure) with the cause', () => {
    const silent = { ...summary, smallLostInRow: 3 };
    expect(computeLinkHealth(input({ summary: silent }))).toMatchObject({ state: 'warning', reachable: false, problem: 'not answering probes; checking the tunnel and the underlay' });
    expect(computeLinkHealth(input({ summary: silent, tunnelIcmp: true }))).toMatchObject({ state: 'warning', problem: expect.stringMatching(/^daemon not answering/) });
    const down = computeLinkHealth(input({ summary: silent, tunnelIcmp: false, underlay }));
    expect(down.state).toBe('failure');
    expect(down.problem).toMatch(/^unreachable through the tunnel; the host 198.18.0.2 answers on the underlay, and a DF ping of 1500 bytes crosses it; likely cause: VXLAN \(UDP 4789\) is dropped on the way/);
    const port = computeLinkHealth(input({ summary: silent, tunnelIcmp: false, underlay, lastInfo: { ...input().lastInfo!, port: 8472 } }));
    expect(port.problem).toMatch(/likely cause: b last reported VXLAN port 8472, we use 4789$/);
    const gone = computeLinkHealth(input({ summary: silent, tunnelIcmp: false, underlay: { ...underlay, hostAnswers: false } }));
    expect(gone.problem).toBe('unreachable through the tunnel; the host 198.18.0.2 does not answer ICMP on the underlay either');
    const keys = computeLinkHealth(input({ summary: silent, tunnelIcmp: true, authMismatch: "b's probes fail our key check" }));
    expect(keys).toMatchObject({ state: 'failure', problem: "not answering our probes: b's probes fail our key check" });
  });

  it('describes every underlay finding', () => {
    expect(describeUnderlay({ ...underlay, dfPasses: false, largestPassing: null }, '198.18.0.2')).toMatch(/no DF ping of 1500 bytes or less passes/);
  });
});

describe('probe setup and settings', () => {
  it('probes every link but legacy ones, with the mesh facts', () => {
    const cfg = config(`mesh: { probe: { interval: 2, port: 7000 } }\n${PEERS}  - { name: old, id: 4, address: 198.18.0.4, legacy: { remotes: [198.18.0.1] } }\n`);
    const self = findSelf(cfg, 'a', new Map([['198.18.0.1', 'eth0']]));
    if (!self.ok) throw new Error(self.reason);
    const setup = computeProbeSetup(cfg, computeDesired(cfg, self.self, self.underlay));
    expect(setup).toMatchObject({ bridge: 'vxbr0', selfId: 1, selfName: 'a', port: 7000, intervalMs: 2000, meshMtu: 1450 });
    expect(setup!.links.map((l) => [l.peer, l.vni, l.remote])).toEqual([['b', 100002, '198.18.0.2'], ['c', 100004, '198.18.0.3']]);
    const off = config(`mesh: { probe: { enabled: false } }\n${PEERS}`);
    expect(computeProbeSetup(off, computeDesired(off, off.peers[0]!, 'eth0'))).toBeUndefined();
    expect(computeDesired(off, off.peers[0]!, 'eth0').probe).toBeUndefined();
    // No desired state (observing the kernel failed this time): keep probing, history and all.
    expect(computeProbeSetup(cfg, undefined, false)).toBe('keep');
    expect(computeProbeSetup(off, undefined, false)).toBeUndefined();
    // The kernel was read, and still no desired state (this server is not in the config): stop.
    expect(computeProbeSetup(cfg, undefined, true)).toBeUndefined();
  });

  it('validates mesh.probe with file:line:col, and merges it across files like every setting', () => {
    const bad = (text: string) => {
      const r = parseConfig([{ path: '/etc/vxmesh/peers.yaml', text }]);
      return r.ok ? [] : r.issues.map(formatIssue);
    };
    expect(bad(`mesh:\n  probe:\n    interval: 0.05\n${PEERS}`)).toEqual(['/etc/vxmesh/peers.yaml:3:15: mesh.probe.interval: must be at least 0.2 (seconds)']);
    expect(bad(`mesh:\n  probe: { port: 70000 }\n${PEERS}`)[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:2:18: mesh\.probe\.port: /);
    expect(bad(`mesh:\n  probe: { key_file: probe.key }\n${PEERS}`)).toEqual(['/etc/vxmesh/peers.yaml:2:22: mesh.probe.key_file: must be an absolute path']);
    expect(bad(`mesh:\n  probe: { every: 5 }\n${PEERS}`)).toEqual(['/etc/vxmesh/peers.yaml:2:12: mesh.probe.every: unknown key "every"']);
    expect(bad(`mesh:\n  probe: { enabled: "yes" }\n${PEERS}`)[0]).toMatch(/^\/etc\/vxmesh\/peers\.yaml:2:21: mesh\.probe\.enabled: /);
    const merged = parseConfig([
      { path: '/etc/vxmesh/peers.yaml', text: `mesh: { probe: { interval: 2 } }\n${PEERS}` },
      { path: '/etc/vxmesh/peers.d/10-key.yaml', text: 'mesh: { probe_key_file: /etc/vxmesh/probe.key }\n' },
    ]);
    expect(merged.ok && merged.config.mesh.probe).toEqual({ enabled: true, intervalMs: 2000, port: 7790, keyFile: '/etc/vxmesh/probe.key' });
    const clash = parseConfig([
      { path: '/etc/vxmesh/peers.yaml', text: `mesh: { probe: { key_file: /a.key } }\n${PEERS}` },
      { path: '/etc/vxmesh/peers.d/10-key.yaml', text: 'mesh: { probe_key_file: /b.key }\n' },
    ]);
    expect(clash.ok ? [] : clash.issues.map(formatIssue)).toEqual(['/etc/vxmesh/peers.d/10-key.yaml:1:25: mesh.probe.key_file: is "/b.key" here but "/a.key" at /etc/vxmesh/peers.yaml:1:28']);
  });

  it('the version in answers is the package version', () => {
    expect(VXMESH_VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });

  it('rate limit: a burst, then the refill rate', () => {
    const b = new TokenBucket(10, 20, 0);
    let n = 0;
    for (let i = 0; i < 100; i++) if (b.take(0)) n++;
    expect(n).toBe(20);
    expect(b.take(50)).toBe(false);
    expect(b.take(100)).toBe(true);
  });
});

describe('knock on the probe port (loopback sockets)', () => {
  const from = { family: 4 as const, address: '127.0.0.1', bridge: 'lo' };
  const datagram = encodeProbe({ kind: 'request', seq: 1, sender: 1, target: 2 }, undefined);
  const listener = async (answer: boolean) => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    if (answer) sock.on('message', (m, rinfo) => sock.send(m, rinfo.port, rinfo.address));
    return sock;
  };

  it('refused when nothing listens (the kernel answers port unreachable), answered or silent otherwise', async () => {
    const closed = await listener(false);
    const port = closed.address().port;
    closed.close();
    expect(await knockProbePort(from, '127.0.0.1', port, datagram)).toBe('refused');
    const echo = await listener(true);
    expect(await knockProbePort(from, '127.0.0.1', echo.address().port, datagram)).toBe('answered');
    echo.close();
    const mute = await listener(false);
    expect(await knockProbePort(from, '127.0.0.1', mute.address().port, datagram, 300)).toBe('silent');
    mute.close();
  });
});
