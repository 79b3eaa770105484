import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENT_DRIVEN_MS,
  chainRules,
  countArpRequests,
  forwardRules,
  Lab,
  ns,
  peersYaml,
  ping,
  readCounter,
  run,
  CLI,
  statusJson,
  vxlanLinks,
  waitFor,
  type Container,
  type Server,
} from '../helpers/lab.js';
import { addForeignObjects, expectAllPairsPing, expectBroadcastOnce } from '../helpers/checks.js';

const FLOOD = { mode: 'flood-list', vni: 4242 };
/** Servers in the flood-list and multicast meshes (a 6th joins the flood-list one live). */
const N = 5;
const ZERO = '00:00:00:00:00:00';

interface FdbEntry {
  mac: string;
  dst?: string;
  viaIf?: string;
}

async function fdb(s: Server, dev = 'vxlan0'): Promise<FdbEntry[]> {
  return JSON.parse(await ns(s.ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev)) as FdbEntry[];
}

/** The all-zero entries of a device, as "dst via" strings, sorted. */
async function floodList(s: Server): Promise<string[]> {
  return (await fdb(s)).filter((e) => e.mac === ZERO).map((e) => `${e.dst}${e.viaIf ? ` via ${e.viaIf}` : ''}`).sort();
}

async function waitRunning(s: Server, what = 'running', timeoutMs = 20_000): Promise<void> {
  await waitFor(`${s.ns} ${what}`, async () => {
    const st = await statusJson(s);
    return st.state === 'running' || `${st.state}: ${(st.reasons as string[]).join('; ')}`;
  }, timeoutMs, 100);
}

/** Servers 1..n on one underlay, all with `mesh`, each with one container. */
async function buildModeMesh(lab: Lab, n: number, mesh: Record<string, unknown>, opts: { family?: 4 | 6; underlayMtu?: number } = {}): Promise<void> {
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i, { family: opts.family ?? 4, mtu: opts.underlayMtu ?? 1500 });
  for (const s of lab.servers) {
    lab.writeConfig(s, peersYaml(lab.servers, mesh));
    lab.startDaemon(s);
  }
  for (const s of lab.servers) await waitRunning(s);
  for (const s of lab.servers) await lab.addContainer(s, s.index);
}

async function noLoopPrevention(s: Server): Promise<void> {
  expect(await chainRules(s.ns)).toEqual([]);
  expect((await forwardRules(s.ns)).join('\n')).not.toMatch(/VXMESH/);
  const ports = JSON.parse(await ns(s.ns, 'bridge', '-j', '-d', 'link', 'show')) as { ifname: string; isolated?: boolean }[];
  expect(ports.filter((p) => p.isolated === true).map((p) => p.ifname)).toEqual([]);
}

/** Continuous ping at `intervalMs`; the result gives the longest run of lost replies as an outage. */
function startPinger(c: Container, to: string, count: number, intervalMs = 10): ResultPromise {
  return execa('ip', ['netns', 'exec', c.ns, 'ping', '-i', String(intervalMs / 1000), '-c', String(count), '-W', '1', to], { reject: false, timeout: 120_000 });
}

function pingResult(stdout: string, intervalMs = 10): { sent: number; received: number; outageMs: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(stdout);
  if (!m) throw new Error(`no ping summary in: ${stdout.slice(-300)}`);
  const seqs = [...stdout.matchAll(/icmp_seq=(\d+)/g)].map((x) => Number(x[1]));
  const sent = Number(m[1]);
  let longest = 0;
  let prev = 0;
  for (const q of [...seqs, sent + 1]) {
    longest = Math.max(longest, q - prev - 1);
    prev = q;
  }
  return { sent, received: Number(m[2]), outageMs: longest * intervalMs };
}

function appliedSince(lab: Lab, s: Server, offset: number): string[] {
  return lab
    .log(s)
    .slice(offset)
    .split('\n')
    .filter((l) => l.includes('"msg":"applied"'))
    .map((l) => (JSON.parse(l) as { change: string }).change);
}

describe(`flood-list mode, ${N} servers`, () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildModeMesh(lab, N, FLOOD);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('every container pings every other (DF 1422 at MTU 1450) over one learning device with one all-zero entry per remote, and no loop prevention', async () => {
    await expectAllPairsPing(lab);
    for (const s of lab.servers) {
      const v = await vxlanLinks(s.ns);
      expect(v.map((l) => l.ifname)).toEqual(['vxlan0']);
      const d = v[0]!;
      expect(d.master).toBe('vxbr0');
      expect(d.mtu).toBe(1450);
      expect(d.ifalias).toBe('vxmesh:flood-list');
      expect(d.linkinfo?.info_data?.id).toBe(4242);
      expect(d.linkinfo?.info_data?.learning).toBe(true);
      expect(await floodList(s)).toEqual(lab.servers.filter((o) => o !== s).map((o) => `${o.address} via eth0`).sort());
      await noLoopPrevention(s);
    }
  });

  it('a broadcast reaches each other container exactly once', async () => {
    const { sent, vxlan } = await expectBroadcastOnce(lab);
    // Head-end replication: the source server sends one copy per remote, and nothing comes back.
    expect(vxlan).toBeGreaterThanOrEqual(sent * (N - 1));
    expect(vxlan).toBeLessThan(sent * (N - 1) + 60);
  });

  it('status lists every peer with its fdb entry and the MACs learned behind it', async () => {
    const s1 = lab.servers[0]!;
    const st = await statusJson(s1);
    expect(st.state).toBe('running');
    expect(st.mode).toBe('flood-list');
    expect(st.device).toMatchObject({ name: 'vxlan0', vni: 4242, present: true, up: true, attached: true, learning: true, floodEntries: { expected: N - 1, present: N - 1 } });
    expect(st.loopPrevention.mode).toBe('none');
    expect(st.links.map((l: { peer: string; fdbEntry: boolean }) => [l.peer, l.fdbEntry])).toEqual(lab.servers.slice(1).map((o) => [`srv${o.index}`, true]));
    // The pings above taught vxlan0 each remote container's MAC.
    for (const l of st.links) expect(l.learnedMacs, l.peer).toBeGreaterThanOrEqual(1);
    const table = await ns(s1.ns, process.execPath, CLI, 'status', '--state-dir', s1.stateDir);
    expect(table).toMatch(/Mode:\s+flood-list: vxlan0 vni 4242/);
    expect(table).toMatch(/srv2\s+198\.18\.0\.2\s+4242\s+vxlan0\s+up\s+present\s+\d+/);
    const metrics = await ns(s1.ns, process.execPath, '-e', "fetch('http://127.0.0.1:7789/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))");
    expect(metrics).toMatch(/vxmesh_mode\{mode="flood-list"\} 1/);
    expect(metrics).toContain(`vxmesh_flood_entries_present ${N - 1}\n`);
  });

  it('a deleted fdb entry is restored from the kernel event', async () => {
    const s1 = lab.servers[0]!;
    const offset = lab.log(s1).length;
    const repairs = (await statusJson(s1)).counters.driftRepairs as number;
    await ns(s1.ns, 'bridge', 'fdb', 'del', ZERO, 'dev', 'vxlan0', 'dst', '198.18.0.2', 'via', 'eth0');
    const ms = await waitFor('flood entry to 198.18.0.2 back', async () => (await floodList(s1)).includes('198.18.0.2 via eth0'), 10_000, 10);
    console.log(`flood-list: deleted fdb entry restored after ${ms} ms`);
    expect(ms).toBeLessThan(EVENT_DRIVEN_MS);
    // Repaired by the fdb event (the periodic resync is 30 s away), counted as drift.
    await waitFor('the reconcile that repaired it, triggered by the fdb event', async () => /"trigger":"[^"]*kernel:bridge[^"]*","durationMs":[\d.]+,"changes":1,/.test(lab.log(s1).slice(offset)) || lab.log(s1).slice(offset), 5000);
    // The log is read once the reconcile's summary line is there: its lines reach the file a little later.
    expect(appliedSince(lab, s1, offset)).toEqual(['add 198.18.0.2 to vxlan0\'s flood list']);
    expect((await statusJson(s1)).counters.driftRepairs).toBe(repairs + 1);
  });

  it('foreign fdb entries on the device are left alone', async () => {
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'bridge', 'fdb', 'append', ZERO, 'dev', 'vxlan0', 'dst', '198.18.0.99');
    await ns(s1.ns, 'bridge', 'fdb', 'add', '02:00:00:00:00:99', 'dev', 'vxlan0', 'dst', '198.18.0.3');
    const offset = lab.log(s1).length;
    await run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'reload', '--state-dir', s1.stateDir]);
    expect(await floodList(s1)).toEqual([...lab.servers.slice(1).map((o) => `${o.address} via eth0`), '198.18.0.99'].sort());
    expect((await fdb(s1)).some((e) => e.mac === '02:00:00:00:00:99' && e.dst === '198.18.0.3')).toBe(true);
    expect(appliedSince(lab, s1, offset)).toEqual([]);
    expect((await statusJson(s1)).device.foreignFloodEntries).toEqual(['198.18.0.99']);
    await ns(s1.ns, 'bridge', 'fdb', 'del', ZERO, 'dev', 'vxlan0', 'dst', '198.18.0.99');
    await ns(s1.ns, 'bridge', 'fdb', 'del', '02:00:00:00:00:99', 'dev', 'vxlan0', 'dst', '198.18.0.3');
  });

  it('a kill -9 and restart of the daemon loses no packet and applies nothing', async () => {
    const [c1, c2] = lab.containers as [Container, Container];
    const s1 = lab.servers[0]!;
    const before = (await vxlanLinks(s1.ns)).map((l) => l.ifindex);
    const flood = await floodList(s1);
    const offset = lab.log(s1).length;
    const pinger = startPinger(c1, c2.address, 400);
    await new Promise((r) => setTimeout(r, 500));
    await lab.stopDaemon(s1, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    lab.startDaemon(s1);
    await waitRunning(s1, 'running after restart', 10_000);
    const r = pingResult(String((await pinger).stdout));
    expect(r).toMatchObject({ sent: 400, received: 400 });
    expect((await vxlanLinks(s1.ns)).map((l) => l.ifindex)).toEqual(before);
    expect(await floodList(s1)).toEqual(flood);
    expect(appliedSince(lab, s1, offset)).toEqual([]);
  });

  it(`a ${N + 1}th server joins live: one fdb append per host, nothing else on the device changes, no loss`, async () => {
    const s4 = await lab.addServer(N + 1);
    lab.writeConfig(s4, peersYaml(lab.servers, FLOOD));
    lab.startDaemon(s4);
    await waitRunning(s4);
    const c4 = await lab.addContainer(s4, N + 1);
    const [c1, c2] = lab.containers as [Container, Container];
    const old = lab.servers.slice(0, N);
    const before = await Promise.all(old.map(async (s) => ({ ifindex: (await vxlanLinks(s.ns))[0]!.ifindex, flood: await floodList(s), offset: lab.log(s).length })));
    const monitors = old.map((s) => execa('ip', ['netns', 'exec', s.ns, 'bridge', 'monitor', 'fdb'], { reject: false, timeout: 60_000 }));
    const pinger = startPinger(c1, c2.address, 300);
    await new Promise((r) => setTimeout(r, 300));
    for (const s of old) lab.writeConfig(s, peersYaml(lab.servers, FLOOD));
    for (const s of old) {
      await waitFor(`${s.ns} flood list with ${s4.ns}`, async () => (await floodList(s)).includes(`${s4.address} via eth0`), 10_000);
      await waitRunning(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const m of monitors) m.kill();
    const r = pingResult(String((await pinger).stdout));
    expect(r).toMatchObject({ sent: 300, received: 300 });
    for (const [k, s] of old.entries()) {
      const events = String((await monitors[k]!).stdout).split('\n').filter((l) => l.includes(ZERO));
      expect(events, s.ns).toEqual([`00:00:00:00:00:00 dev vxlan0 dst ${s4.address} via eth0 self permanent`]);
      expect((await vxlanLinks(s.ns))[0]!.ifindex).toBe(before[k]!.ifindex);
      expect(await floodList(s)).toEqual([...before[k]!.flood, `${s4.address} via eth0`].sort());
      // The ingress filter admits the new peer too; nothing else is touched.
      await waitFor(`${s.ns} log of the join`, async () => appliedSince(lab, s, before[k]!.offset).length >= 2 || 'not yet', 5000);
      expect(appliedSince(lab, s, before[k]!.offset).sort()).toEqual([`add ${s4.address} to vxlan0's flood list`, `rewrite ingress filter (udp 4789 only from ${N} peer addresses)`]);
    }
    for (const c of lab.containers) if (c !== c4) expect(await ping(c4, c.address), `${c4.address} -> ${c.address}`).toBe(true);
  });
});

describe(`multicast mode, ${N} servers, IPv4 group`, () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildModeMesh(lab, N, { mode: 'multicast', vni: 77, group: '239.1.1.1', ttl: 4 });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  for (const snooping of [1, 0]) {
    it(`every container pings every other with IGMP snooping ${snooping ? 'on' : 'off'} in the underlay bridge, and a broadcast arrives once`, async () => {
      await ns(lab.underlay, 'ip', 'link', 'set', 'ulbr', 'type', 'bridge', 'mcast_snooping', String(snooping));
      // Let learned entries age out so floods go through the group again.
      for (const s of lab.servers) await ns(s.ns, 'bridge', 'fdb', 'flush', 'dev', 'vxlan0', 'dynamic').catch(() => '');
      await expectAllPairsPing(lab);
      // An address nobody has, a new one per run (the first run's failed ARP entry would stay quiet).
      await expectBroadcastOnce(lab, `100.64.0.${250 - snooping}`);
    });
  }

  it('one device with the group on the underlay, joined, shown in status with the routing warning; no loop prevention', async () => {
    for (const s of lab.servers) {
      const v = await vxlanLinks(s.ns);
      expect(v.map((l) => l.ifname)).toEqual(['vxlan0']);
      const data = v[0]!.linkinfo!.info_data as Record<string, unknown>;
      expect(data).toMatchObject({ id: 77, group: '239.1.1.1', link: 'eth0', ttl: 4, learning: true });
      expect(await ns(s.ns, 'ip', 'maddr', 'show', 'dev', 'eth0')).toMatch(/inet\s+239\.1\.1\.1/);
      await noLoopPrevention(s);
      const st = await statusJson(s);
      expect(st.state).toBe('running');
      expect(st.multicast).toMatchObject({ group: '239.1.1.1', underlay: 'eth0', ttl: 4, joined: true });
      expect(st.multicast.warning).toMatch(/underlay must route the group/);
      expect(st.ingressFilter).toMatchObject({ present: true, peers: N - 1 });
    }
    const table = await ns(lab.servers[0]!.ns, process.execPath, CLI, 'status', '--state-dir', lab.servers[0]!.stateDir);
    expect(table).toMatch(/group 239\.1\.1\.1 on eth0, ttl 4: joined/);
  });
});

describe('multicast mode, 3 servers, IPv6 group on an IPv6 underlay', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildModeMesh(lab, 3, { mode: 'multicast', vni: 78, group: 'ff05::4242' }, { family: 6, underlayMtu: 1520 });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('every container pings every other and status shows the group joined', async () => {
    await expectAllPairsPing(lab);
    for (const s of lab.servers) {
      expect(await ns(s.ns, 'ip', 'maddr', 'show', 'dev', 'eth0')).toMatch(/inet6\s+ff05::4242/);
      expect((await statusJson(s)).multicast).toMatchObject({ group: 'ff05::4242', joined: true });
    }
  });
});

describe('flood-list mode, 3 servers on an IPv6 underlay', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildModeMesh(lab, 3, FLOOD, { family: 6, underlayMtu: 1520 });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('every container pings every other through IPv6 flood entries', async () => {
    await expectAllPairsPing(lab);
    expect(await floodList(lab.servers[0]!)).toEqual(['2001:2::2 via eth0', '2001:2::3 via eth0']);
  });
});

/** The single-device meshes a running per-peer mesh is switched to and back from. */
const SWITCH_TO = [FLOOD, { mode: 'multicast', vni: 4243, group: '239.1.1.3' }] as const;

for (const single of SWITCH_TO) {
  describe(`switching a running 3-server mesh per-peer -> ${single.mode} -> per-peer`, () => {
    const lab = new Lab();
    beforeAll(async () => {
      await buildModeMesh(lab, 3, {});
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    it('traffic comes back within the bound after each switch, and no foreign object is touched', async () => {
      const s1 = lab.servers[0]!;
      const foreign = await addForeignObjects(s1);
      const f0 = await foreign();
      const [c1, c3] = [lab.containers[0]!, lab.containers[2]!];
      const ours = async (s: Server) => (await vxlanLinks(s.ns)).filter((l) => l.ifalias?.startsWith('vxmesh:')).map((l) => l.ifname).sort();
      const joined = async (s: Server) => 'group' in single && (await ns(s.ns, 'ip', 'maddr', 'show', 'dev', 'eth0')).includes(single.group);

      const outages: number[] = [];
      for (const mesh of [single, {}]) {
        const pinger = startPinger(c1, c3.address, 1000);
        await new Promise((r) => setTimeout(r, 500));
        for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, mesh));
        const to = (mesh as { mode?: string }).mode ?? 'per-peer';
        for (const s of lab.servers) {
          await waitFor(`${s.ns} in ${JSON.stringify(mesh)}`, async () => ((await statusJson(s)).mode === to && (await statusJson(s)).state === 'running') || 'not yet', 20_000, 100);
        }
        const r = pingResult(String((await pinger).stdout));
        console.log(`mode switch to ${to}: ${r.sent - r.received} of ${r.sent} pings lost at 10 ms intervals; longest outage ${r.outageMs} ms`);
        outages.push(r.outageMs);
        expect(r.received, `pings answered after the switch to ${to}`).toBeGreaterThan(0);
        // Bounded far above the typical figure (see docs/modes.md) for a loaded machine.
        expect(r.outageMs).toBeLessThan(5000);
        expect(await foreign()).toEqual(f0);
        await expectAllPairsPing(lab);
        if (to !== 'per-peer') {
          for (const s of lab.servers) {
            expect(await ours(s)).toEqual(['vxlan0']);
            expect(await chainRules(s.ns)).toEqual([]);
            if ('group' in single) expect(await joined(s), `${s.ns} joined ${single.group}`).toBe(true);
          }
        } else {
          for (const s of lab.servers) {
            expect(await ours(s)).toEqual(lab.servers.filter((o) => o !== s).map((o) => `vxlan${o.index}`).sort());
            expect((await chainRules(s.ns)).length).toBe(1 + 2);
            // The group left with the device that joined it.
            expect(await joined(s)).toBe(false);
          }
        }
      }
      expect(outages.length).toBe(2);
    });
  });
}

/**
 * A server set up by hand the way the references show (no vxmesh), in the same mode and VNI,
 * without `dstport`: the kernel's default port 8472, which `mesh.port` matches.
 */
async function handConfigured(lab: Lab, s: Server, vni: number, flood: { group: string } | { list: string[] }): Promise<void> {
  const via = 'group' in flood ? ['group', flood.group] : [];
  await ns(s.ns, 'ip', 'link', 'add', 'vxbr0', 'type', 'bridge');
  await ns(s.ns, 'ip', 'link', 'set', 'vxbr0', 'mtu', '1450', 'up');
  await ns(s.ns, 'ip', 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', String(vni), ...via, 'local', s.address, 'dev', 'eth0');
  await ns(s.ns, 'ip', 'link', 'set', 'vxlan0', 'mtu', '1450', 'master', 'vxbr0', 'up');
  if ('list' in flood) for (const dst of flood.list) await ns(s.ns, 'bridge', 'fdb', 'append', ZERO, 'dev', 'vxlan0', 'dst', dst);
}

for (const mode of ['flood-list', 'multicast'] as const) {
  describe(`${mode}: a reference-style server configured by hand joins two vxmesh servers (port 8472)`, () => {
    const lab = new Lab();
    const mesh = mode === 'flood-list' ? { mode, vni: 500, port: 8472 } : { mode, vni: 501, port: 8472, group: '239.1.1.9' };
    let attacker = '';
    beforeAll(async () => {
      await lab.init();
      for (let i = 1; i <= 3; i++) await lab.addServer(i);
      const [s1, s2, hand] = lab.servers as [Server, Server, Server];
      for (const s of [s1, s2]) {
        lab.writeConfig(s, peersYaml(lab.servers, mesh));
        lab.startDaemon(s);
      }
      await handConfigured(lab, hand, mesh.vni, mode === 'flood-list' ? { list: [s1.address, s2.address] } : { group: '239.1.1.9' });
      for (const s of [s1, s2]) await waitRunning(s);
      for (const s of lab.servers) await lab.addContainer(s, s.index);
      // A host that is no peer, with a device of the same VNI and port (and group) aimed at server 1.
      attacker = await lab.addUnderlayHost('atk', '198.18.0.200');
      const aim = mode === 'flood-list' ? ['remote', s1.address] : ['group', '239.1.1.9'];
      await ns(attacker, 'ip', 'link', 'add', 'vx', 'type', 'vxlan', 'id', String(mesh.vni), ...aim, 'local', '198.18.0.200', 'dev', 'eth0', 'dstport', '8472');
      await ns(attacker, 'ip', 'addr', 'add', '100.64.0.200/24', 'dev', 'vx');
      await ns(attacker, 'ip', 'link', 'set', 'vx', 'up');
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    it('passes traffic both ways between the hand-made server and the vxmesh servers', async () => {
      expect((await vxlanLinks(lab.servers[0]!.ns))[0]!.linkinfo?.info_data).toMatchObject({ id: mesh.vni });
      // The hand-made device got the kernel's default port, not 4789.
      expect(((await vxlanLinks(lab.servers[2]!.ns))[0]!.linkinfo?.info_data as Record<string, unknown>).port).toBe(8472);
      await expectAllPairsPing(lab);
    });

    it('the ingress filter drops the same frames from a host that is not a peer', async () => {
      const s1 = lab.servers[0]!;
      const c1 = lab.containers[0]!;
      const before = (await statusJson(s1)).ingressFilter.droppedPackets as number;
      await countArpRequests(c1.ns, c1.address, 'ingress', '100.64.0.200');
      await execa('ip', ['netns', 'exec', attacker, 'ping', '-c', '3', '-i', '0.2', '-W', '1', c1.address], { reject: false, timeout: 10_000 });
      expect(await readCounter(c1.ns, 'arpcount')).toBe(0);
      // Nothing arrived because it was dropped (at the group's destination too), not because nothing was sent.
      expect((await statusJson(s1)).ingressFilter.droppedPackets).toBeGreaterThan(before);
    });
  });
}

describe('flood-list with a custom mesh.device (vxmesh0), 3 servers, and back to per-peer', () => {
  const lab = new Lab();
  const CUSTOM = { ...FLOOD, device: 'vxmesh0' };
  beforeAll(async () => {
    await buildModeMesh(lab, 3, CUSTOM);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('status says running, `vxmesh plan` is empty, and the switch back leaves no vxmesh0 behind', async () => {
    await expectAllPairsPing(lab);
    for (const s of lab.servers) {
      const st = await statusJson(s);
      expect(st.state, JSON.stringify(st.reasons)).toBe('running');
      const plan = await run('ip', ['netns', 'exec', s.ns, process.execPath, CLI, 'plan', '--config', s.configDir, '--state-dir', s.stateDir]);
      expect(plan.trim()).toBe('# nothing to do: the kernel matches the config');
    }
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, {}));
    for (const s of lab.servers) {
      await waitFor(`${s.ns} back in per-peer`, async () => ((await statusJson(s)).mode === 'per-peer' && (await statusJson(s)).state === 'running') || 'not yet', 20_000, 100);
      const names = (await vxlanLinks(s.ns)).map((l) => l.ifname).sort();
      expect(names).toEqual(lab.servers.filter((o) => o !== s).map((o) => `vxlan${o.index}`).sort());
    }
    await expectAllPairsPing(lab);
  });
});
