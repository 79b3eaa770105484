import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Lab, ns, ping, statusJson, vxlanLinks, waitFor, type Container } from '../helpers/lab.js';
import { buildEncryptedMesh, encryptedMesh, encryptionStatus, privateKeyOf, tunnelOf, UnderlayCapture, waitForEncrypted, wgDump, type EncryptedLab } from '../helpers/encryption.js';

/** Every container pings every other, once plain and once DF at exactly the mesh MTU; one byte more fails. */
async function expectAllPairsAtMtu(containers: Container[], mtu: number): Promise<void> {
  const payload = mtu - 28;
  for (const a of containers) {
    for (const b of containers) {
      if (a === b) continue;
      // The first packet of a link may wait for its WireGuard handshake (and the link for its
      // last reconcile pass on a loaded machine): bounded, and the time is shown.
      const first = await waitFor(`${a.address} -> ${b.address}`, () => ping(a, b.address), 10_000, 100);
      if (first > 1000) console.info(`first ping ${a.address} -> ${b.address} after ${first} ms`);
      expect(await ping(a, b.address, ['-M', 'do', '-s', String(payload)]), `DF ${mtu} bytes ${a.address} -> ${b.address}`).toBe(true);
    }
  }
  expect(await ping(containers[0]!, containers[1]!.address, ['-M', 'do', '-s', String(payload + 1)]), `DF ${mtu + 1} bytes must not fit`).toBe(false);
}

describe('encrypted mesh: 3 servers, underlay MTU 1560, mesh MTU 1450 (wireguard-go)', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  const capture = new UnderlayCapture(lab, 'mesh1560');
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3, { underlayMtu: 1560 });
    await capture.start();
  });
  afterAll(async () => {
    await capture.stop().catch(() => undefined);
    await lab.cleanup();
  });

  it('every container pings every other; DF pings of 1450 bytes pass and 1451 do not', async () => {
    await expectAllPairsAtMtu(lab.containers, 1450);
  });

  it('the VXLAN devices ride the owned WireGuard interface on tunnel addresses; one wg peer per remote with only its tunnel address', async () => {
    for (const s of lab.servers) {
      const dev = enc.device(s);
      const wg = JSON.parse(await ns(s.ns, 'ip', '-j', '-d', 'addr', 'show', 'dev', dev)) as { ifalias?: string; mtu: number; linkinfo?: { info_kind?: string }; addr_info: { local: string; prefixlen: number; family: string }[] }[];
      expect(wg[0]).toMatchObject({ ifalias: 'vxmesh:wireguard', mtu: 1500, linkinfo: { info_kind: 'tun' } });
      expect(wg[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`${tunnelOf(s.index)}/16`]);
      for (const v of await vxlanLinks(s.ns)) {
        const d = v.linkinfo!.info_data as Record<string, unknown>;
        const peer = Number(v.ifname.slice(5));
        expect({ dev: v.ifname, local: d.local, remote: d.remote, link: d.link, mtu: v.mtu }).toEqual({ dev: v.ifname, local: tunnelOf(s.index), remote: tunnelOf(peer), link: dev, mtu: 1450 });
      }
      const peers = (await wgDump(s, dev)).trim().split('\n').slice(1).map((l) => l.split('\t'));
      const others = lab.servers.filter((o) => o !== s);
      expect(peers.map((p) => [p[0], p[2], p[3]]).sort()).toEqual(others.map((o) => [enc.keys.get(o.index), `${o.address}:51820`, `${tunnelOf(o.index)}/32`]).sort());
    }
  });

  it('status: userspace WireGuard, the MTU chain 1560 -> 1500 -> 1450, every link with a handshake; the private key is in neither status nor log', async () => {
    const s1 = lab.servers[0]!;
    const st = await statusJson(s1);
    expect(st.state, st.reasons?.join('; ')).toBe('running');
    expect(st.encryption).toMatchObject({ mode: 'wireguard', implementation: 'userspace', present: true, publicKey: enc.keys.get(1), listenPort: 51820, mtuChain: { underlay: 1560, wireguard: 1500, fits: 1450, mesh: 1450, ok: true }, problem: null });
    for (const l of st.links as Record<string, any>[]) {
      expect(l.wireguard).toMatchObject({ handshake: 'ok', present: true, problem: null });
      expect(l.wireguard.rxBytes).toBeGreaterThan(0);
    }
    const secret = privateKeyOf(s1);
    expect(JSON.stringify(st)).not.toContain(secret);
    expect(lab.log(s1)).not.toContain(secret);
    expect(lab.log(s1)).toContain(enc.keys.get(1)!);
  });

  it('`vxmesh plan` on a converged encrypted server is empty (the filter, the interface and its wg peers read back as planned)', async () => {
    for (const s of lab.servers) {
      const out = await ns(s.ns, process.execPath, CLI, 'plan', '--config', s.configDir, '--state-dir', s.stateDir);
      expect(out.trim(), s.ns).toBe('# nothing to do: the kernel matches the config');
    }
  });

  it("link health's full-size probe passes over WireGuard on every link", async () => {
    for (const s of lab.servers) {
      await waitFor(`${s.ns}: every link healthy with full-size frames`, async () => {
        const links = (await statusJson(s)).links as Record<string, any>[];
        const bad = links.filter((l) => !(l.health?.state === 'ok' && l.health.fullSizePass === true));
        return bad.length === 0 || bad.map((l) => `${l.peer}: ${JSON.stringify(l.health)}`).join('; ');
      }, 40_000, 500);
    }
  });

  it('the underlay carries only WireGuard: no UDP 4789 and no fragment in a capture of all of the above', async () => {
    // Traffic during the capture: a round of full-size pings.
    await expectAllPairsAtMtu(lab.containers, 1450);
    await capture.stop();
    const wire = {
      wireguard: await capture.count('udp port 51820'),
      vxlan: await capture.count('udp port 4789'),
      fragments: await capture.count('(ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)'),
      otherIp: await capture.count('ip and not udp port 51820'),
    };
    console.info(`underlay capture: ${JSON.stringify(wire)}`);
    expect(wire.wireguard).toBeGreaterThan(6 * 2 * 2);
    expect(wire).toMatchObject({ vxlan: 0, fragments: 0, otherIp: 0 });
  });
});

describe('encrypted mesh over a 1500 underlay: 1450 cannot fit, the largest that does is 1390', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3, { underlayMtu: 1500, containerMtu: 1390, containers: false });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('says so with the numbers and both fixes, in status', async () => {
    const st = await statusJson(lab.servers[0]!);
    expect(st.state).toBe('degraded');
    expect(st.encryption.mtuChain).toEqual({ underlay: 1500, wireguard: 1440, fits: 1390, mesh: 1450, ok: false });
    expect(st.reasons.join('\n')).toContain('mesh mtu 1450 does not fit: underlay 1500 - 60 (WireGuard over IPv4) = 1440, - 50 (VXLAN) = 1390; raise the underlay MTU to 1560 (jumbo frames), or set mesh.mtu: 1390');
  });

  it('doctor names the WireGuard in use and the MTU chain problem with its fix', async () => {
    const s1 = lab.servers[0]!;
    const r = await execa('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'doctor', '--json', '--config', s1.configDir, '--state-dir', s1.stateDir], { reject: false, timeout: 60_000 });
    const checks = (JSON.parse(r.stdout) as { checks: { name: string; severity: string; message: string; fix?: string }[] }).checks;
    expect(checks.find((c) => c.name === 'wireguard')).toMatchObject({ severity: 'ok', message: expect.stringMatching(/^userspace: wireguard-go/) });
    const chain = checks.find((c) => c.name === 'mtu chain')!;
    expect(chain).toMatchObject({ severity: 'problem', message: expect.stringContaining('- 50 (VXLAN) = 1390'), fix: expect.stringContaining('mesh.mtu: 1390') });
    expect(r.exitCode).toBe(1);
  });

  it('with mtu 1390: DF pings of 1390 bytes pass and 1391 do not', async () => {
    enc.writeAll(encryptedMesh({ mtu: 1390 }));
    for (const s of lab.servers) {
      await waitFor(`${s.ns} at mtu 1390`, async () => (await statusJson(s)).bridge.mtu === 1390, 15_000, 100);
      await waitForEncrypted(s, 2);
    }
    for (const s of lab.servers) await lab.addContainer(s, s.index, 1390);
    await expectAllPairsAtMtu(lab.containers, 1390);
    const st = await statusJson(lab.servers[0]!);
    expect(st.encryption.mtuChain).toEqual({ underlay: 1500, wireguard: 1440, fits: 1390, mesh: 1390, ok: true });
    expect(st.state, st.reasons.join('; ')).toBe('running');
  });
});

describe('encrypted flood-list mesh (one VXLAN device, its flood list on tunnel addresses)', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  const capture = new UnderlayCapture(lab, 'flood');
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3, { mesh: { mode: 'flood-list', vni: 4242 } });
    await capture.start();
  });
  afterAll(async () => {
    await capture.stop().catch(() => undefined);
    await lab.cleanup();
  });

  it('every container pings every other at the mesh MTU, the flood list names tunnel addresses via the WireGuard interface, only WireGuard on the wire', async () => {
    await expectAllPairsAtMtu(lab.containers, 1450);
    for (const s of lab.servers) {
      const [dev] = await vxlanLinks(s.ns);
      expect((dev!.linkinfo!.info_data as Record<string, unknown>)).toMatchObject({ id: 4242, local: tunnelOf(s.index), link: enc.device(s) });
      const fdb = JSON.parse(await ns(s.ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev!.ifname)) as { mac: string; dst?: string; viaIf?: string }[];
      const flood = fdb.filter((e) => e.mac === '00:00:00:00:00:00').map((e) => [e.dst, e.viaIf]).sort();
      expect(flood).toEqual(lab.servers.filter((o) => o !== s).map((o) => [tunnelOf(o.index), enc.device(s)]).sort());
    }
    await capture.stop();
    expect(await capture.count('udp port 4789')).toBe(0);
    expect(await capture.count('udp port 51820')).toBeGreaterThan(0);
    expect((await statusJson(lab.servers[0]!)).state).toBe('running');
  });
});

describe('encrypted mesh over IPv6 (underlay 1580 = 1450 + 50 + 80)', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3, { family: 6, underlayMtu: 1580 });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('all pairs at 1450 DF; WireGuard endpoints are [v6]:port; the chain reads 1580 -> 1500 -> 1450', async () => {
    await expectAllPairsAtMtu(lab.containers, 1450);
    const s1 = lab.servers[0]!;
    const peers = (await wgDump(s1, enc.device(s1))).trim().split('\n').slice(1).map((l) => l.split('\t')[2]).sort();
    expect(peers).toEqual(['[2001:2::2]:51820', '[2001:2::3]:51820']);
    const st = await statusJson(s1);
    expect(st.encryption.mtuChain).toEqual({ underlay: 1580, wireguard: 1500, fits: 1450, mesh: 1450, ok: true });
    expect(st.state, st.reasons.join('; ')).toBe('running');
  });
});
