import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addForeignObjects } from '../helpers/checks.js';
import { EVENT_DRIVEN_MS, LAB_EBTABLES, buildMesh, chainRules, CLI, forwardRules, Lab, links, ns, peersYaml, ping, run, statusJson, vxlanLinks, waitFor, waitForConverged } from '../helpers/lab.js';

async function ifindexes(nsName: string): Promise<Map<string, number>> {
  return new Map((await vxlanLinks(nsName)).map((l) => [l.ifname, l.ifindex]));
}

describe('config edits, drift and bad files on a live 3-server mesh', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 3);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('repairs drift: a deleted device, a deleted rule, a detached port', async () => {
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'ip', 'link', 'del', 'vxlan2');
    const t1 = await waitFor('vxlan2 re-created and attached', async () => (await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan2' && l.master === 'vxbr0' && l.flags.includes('UP')), EVENT_DRIVEN_MS);
    await ns(s1.ns, LAB_EBTABLES.ebtables, '-t', 'filter', '-D', 'VXMESH', '-i', 'vxlan2', '-o', 'vxlan+', '-j', 'DROP');
    const t2 = await waitFor('rule restored', async () => (await chainRules(s1.ns)).includes('-i vxlan2 -o vxlan+ -j DROP'), EVENT_DRIVEN_MS);
    await ns(s1.ns, LAB_EBTABLES.ebtables, '-t', 'filter', '-F', 'VXMESH');
    await waitFor('flushed chain restored', async () => (await chainRules(s1.ns)).length === 3, 5000);
    await ns(s1.ns, 'ip', 'link', 'set', 'vxlan3', 'nomaster');
    const t3 = await waitFor('vxlan3 re-attached', async () => (await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan3' && l.master === 'vxbr0'), EVENT_DRIVEN_MS);
    // Each waitFor above fails after EVENT_DRIVEN_MS: far below the 30 s resync, so each repair came from an event.
    console.info(`drift repaired after ${t1} ms (device), ${t2} ms (rule), ${t3} ms (port)`);
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
    const st = await statusJson(s1);
    expect(st.counters.driftRepairs).toBeGreaterThanOrEqual(3);
  });

  it('a syntax error and a duplicate id leave the mesh untouched, show file:line:col, and a fix applies', async () => {
    const s1 = lab.servers[0]!;
    const before = await ifindexes(s1.ns);
    const good = peersYaml(lab.servers);
    lab.writeConfig(s1, good.replace('peers:', 'peers: [oops'));
    await waitFor('syntax error in status', async () => JSON.stringify((await statusJson(s1)).config.lastError ?? '').includes('peers.yaml:'), 5000);
    const st = await statusJson(s1);
    expect(st.state).toBe('degraded');
    expect(st.config.lastError[0]).toMatch(/peers\.yaml:\d+:\d+: /);
    expect(await ifindexes(s1.ns)).toEqual(before);

    lab.writeConfig(s1, good + '  - { name: dup, id: 2, address: 198.18.0.99 }\n');
    await waitFor('duplicate id in status', async () => JSON.stringify((await statusJson(s1)).config.lastError ?? '').includes('duplicate peer id 2'), 5000);
    expect((await statusJson(s1)).config.lastError[0]).toMatch(/peers\.yaml:6:\d+: peers\[3\]\.id: duplicate peer id 2/);
    expect(await ifindexes(s1.ns)).toEqual(before);
    expect(await ping(lab.containers[0]!, lab.containers[2]!.address)).toBe(true);

    lab.writeConfig(s1, good);
    await waitFor('state running again', async () => (await statusJson(s1)).state === 'running', 5000);
    expect(await ifindexes(s1.ns)).toEqual(before);
  });

  it('adding, removing and re-addressing peers converges without touching unaffected links', async () => {
    const [s1, s2, s3] = lab.servers as [typeof lab.servers[0], typeof lab.servers[0], typeof lab.servers[0]];
    const s4 = await lab.addServer(4);
    const all = [...lab.servers];
    for (const s of all) lab.writeConfig(s, peersYaml(all));
    const before1 = await ifindexes(s1.ns);
    lab.startDaemon(s4);
    for (const s of all) await waitForConverged(s, 3);
    const c4 = await lab.addContainer(s4, 4);
    expect(await ping(c4, lab.containers[0]!.address)).toBe(true);
    const after1 = await ifindexes(s1.ns);
    expect(after1.get('vxlan2')).toBe(before1.get('vxlan2'));
    expect(after1.get('vxlan3')).toBe(before1.get('vxlan3'));
    expect((await chainRules(s1.ns)).length).toBe(1 + 3); // the gate and one rule per port

    // Remove server 3 everywhere.
    const without3 = all.filter((s) => s !== s3);
    for (const s of all) lab.writeConfig(s, peersYaml(without3));
    await waitFor('vxlan3 gone on s1', async () => !(await ifindexes(s1.ns)).has('vxlan3'), 5000);
    const afterRemove = await ifindexes(s1.ns);
    expect(afterRemove.get('vxlan2')).toBe(before1.get('vxlan2'));
    expect(afterRemove.get('vxlan4')).toBe(after1.get('vxlan4'));
    // The device goes in the first batch, the chain is rewritten just after it: wait for both.
    await waitFor('chain down to the two remaining links', async () => (await chainRules(s1.ns)).length === 1 + 2, 5000);

    // Server 2 moves to a new underlay address.
    // Keep the new address when the old primary goes (by default the kernel drops secondaries with it).
    await ns(s2.ns, 'sysctl', '-qw', 'net.ipv4.conf.eth0.promote_secondaries=1');
    await ns(s2.ns, 'ip', 'addr', 'add', '198.18.0.22/24', 'dev', 'eth0');
    const moved = without3.map((s) => (s === s2 ? { index: 2, address: '198.18.0.22' } : s));
    for (const s of without3) lab.writeConfig(s, peersYaml(moved));
    await waitFor('s1 vxlan2 points at the new address', async () => (await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan2' && l.linkinfo?.info_data?.remote === '198.18.0.22'), 5000);
    await ns(s2.ns, 'ip', 'addr', 'del', '198.18.0.2/24', 'dev', 'eth0');
    const afterMove = await ifindexes(s1.ns);
    expect(afterMove.get('vxlan2')).toBe(before1.get('vxlan2')); // changed in place
    expect(afterMove.get('vxlan4')).toBe(after1.get('vxlan4'));
    await waitFor('ping over the moved link', async () => ping(lab.containers[0]!, lab.containers[1]!.address), 5000);
  });
});

describe('daemon lifecycle', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 3);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a kill -9 and restart of the daemon loses no packet under continuous ping', async () => {
    const [c1, c2] = lab.containers as [typeof lab.containers[0], typeof lab.containers[0]];
    const s1 = lab.servers[0]!;
    const before = await ifindexes(s1.ns);
    const logBefore = lab.log(s1).length;
    const pinger = execa('ip', ['netns', 'exec', c1.ns, 'ping', '-i', '0.01', '-c', '400', '-W', '1', c2.address], { reject: false, timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 500));
    await lab.stopDaemon(s1, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    lab.startDaemon(s1);
    await waitFor('restarted daemon answering', async () => (await statusJson(s1)).state === 'running', 10_000);
    const r = await pinger;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Number(m![1])).toBe(400);
    expect(Number(m![2])).toBe(400);
    expect(await ifindexes(s1.ns)).toEqual(before);
    // The restarted daemon adopted the mesh: it applied no change at all.
    expect(lab.log(s1).slice(logBefore)).not.toMatch(/"msg":"applied"/);
  });

  it('stop removes what vxmesh owns, keeps foreign objects, and start brings it back', async () => {
    const s1 = lab.servers[0]!;
    // Foreign objects: a bridge, a vxlan device, an ebtables rule in FORWARD.
    const foreign = await addForeignObjects(s1);
    const f0 = await foreign();
    await run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'reload', '--state-dir', s1.stateDir]);
    expect(await foreign()).toEqual(f0);

    const stop = await run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'stop', '--state-dir', s1.stateDir]);
    expect(stop).toMatch(/delete vxlan2/);
    expect((await vxlanLinks(s1.ns)).map((l) => l.ifname)).toEqual(['vxlan900']);
    // The bridge stays while a container is plugged into it: deleting it would cut the container off for good.
    expect(stop).toMatch(/keep bridge vxbr0: it has ports vxmesh does not own \(c1\)/);
    expect((await links(s1.ns)).find((l) => l.ifname === 'c1')?.master).toBe('vxbr0');
    expect(JSON.stringify((await ns(s1.ns, 'ip', '-j', 'addr', 'show', 'dev', 'vxbr0')))).not.toMatch(/fe80::7678/);
    expect(await chainRules(s1.ns)).toEqual([]);
    expect((await forwardRules(s1.ns)).join('\n')).not.toMatch(/VXMESH/);
    expect(await foreign()).toEqual(f0);
    expect((await statusJson(s1)).state).toBe('stopped');

    // Stays stopped across a daemon restart until `start`.
    await lab.stopDaemon(s1);
    lab.startDaemon(s1);
    await waitFor('daemon back', async () => (await statusJson(s1)).state === 'stopped', 10_000);
    expect((await vxlanLinks(s1.ns)).length).toBe(1);

    await run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'start', '--state-dir', s1.stateDir]);
    await waitForConverged(s1, 2, 5000);
    const v = await vxlanLinks(s1.ns);
    expect(v.filter((l) => l.master === 'vxbr0').length).toBe(2);
    expect(await foreign()).toEqual(f0);
    // The container was never unplugged: it talks again as it is.
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
  });

  it('restart: the containers talk again afterwards without being re-plugged; the outage is measured', async () => {
    const [c1, c2] = lab.containers as [typeof lab.containers[0], typeof lab.containers[0]];
    const s1 = lab.servers[0]!;
    await waitForConverged(s1, 2, 5000);
    // 20 ms between pings: the count lost is the outage in units of 20 ms.
    const pinger = execa('ip', ['netns', 'exec', c1.ns, 'ping', '-i', '0.02', '-c', '400', '-W', '1', c2.address], { reject: false, timeout: 40_000 });
    await new Promise((r) => setTimeout(r, 1000));
    await run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, 'restart', '--state-dir', s1.stateDir]);
    const r = await pinger;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const lost = Number(m![1]) - Number(m![2]);
    console.info(`restart outage: ${lost} of ${m![1]} pings lost at 20 ms intervals (~${lost * 20} ms)`);
    expect((await links(s1.ns)).find((l) => l.ifname === 'c1')?.master).toBe('vxbr0');
    expect((await statusJson(s1)).state).toBe('running');
    expect(await ping(c1, c2.address)).toBe(true);
    // Teardown and rebuild take well under the 8 s the ping runs.
    expect(lost).toBeLessThan(200);
    expect(Number(m![2])).toBeGreaterThan(0);
  });
});

describe('boot order', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  it('waits for the underlay address and builds the mesh when it appears', async () => {
    await lab.init();
    const s1 = await lab.addServer(1, { withAddress: false });
    const s2 = await lab.addServer(2);
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers) + '');
    lab.writeConfig(s1, 'node: srv1\n', 'peers.d/10-node.yaml');
    lab.startDaemon(s1);
    lab.startDaemon(s2);
    await waitForConverged(s2, 1);
    await waitFor('s1 reports waiting for its address', async () => JSON.stringify(await statusJson(s1)).includes('waiting for the underlay address'), 10_000);
    expect((await vxlanLinks(s1.ns)).length).toBe(0);
    await ns(s1.ns, 'ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'eth0');
    const took = await waitFor('s1 mesh up', async () => (await vxlanLinks(s1.ns)).some((l) => l.master === 'vxbr0' && l.flags.includes('UP')), EVENT_DRIVEN_MS);
    console.info(`mesh up ${took} ms after the address appeared`);
    const c1 = await lab.addContainer(s1, 1);
    const c2 = await lab.addContainer(s2, 2);
    expect(await ping(c1, c2.address)).toBe(true);
  });
});
