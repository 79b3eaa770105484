import { execa } from 'execa';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_DRIVEN_MS, buildMesh, chainRules, countArpRequests, countVxlanOnUnderlay, Lab, ns, peersYaml, ping, readCounter, run, statusJson, vxlanLinks, waitFor, waitForConverged } from '../helpers/lab.js';
import { pairVni } from '../../src/model/vni.js';

describe('ingress filter', () => {
  const lab = new Lab();
  let attacker = '';
  beforeAll(async () => {
    await buildMesh(lab, 2);
    // A host on the underlay that is not a peer, with a VXLAN device using the real VNI of link 1-2.
    attacker = await lab.addUnderlayHost('atk', '198.18.0.200');
    await ns(attacker, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    await ns(attacker, 'ip', 'link', 'add', 'vx', 'type', 'vxlan', 'id', String(pairVni(1, 2, 100000)), 'remote', '198.18.0.1', 'local', '198.18.0.200', 'dstport', '4789', 'dev', 'eth0');
    await ns(attacker, 'ip', 'addr', 'add', '100.64.0.200/24', 'dev', 'vx');
    await ns(attacker, 'ip', 'link', 'set', 'vx', 'up');
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  /** The attacker ARPs for container 1 through the injected VXLAN frames; returns how many arrived. */
  async function inject(): Promise<number> {
    const c1 = lab.containers[0]!;
    await countArpRequests(c1.ns, c1.address, 'ingress', '100.64.0.200');
    // A FAILED neighbour entry from an earlier attempt would hold back new ARP requests.
    await ns(attacker, 'ip', 'neigh', 'flush', 'dev', 'vx');
    await execa('ip', ['netns', 'exec', attacker, 'ping', '-c', '3', '-i', '0.2', '-W', '1', c1.address], { reject: false, timeout: 10_000 });
    return readCounter(c1.ns, 'arpcount');
  }

  it('drops VXLAN frames from a host that is not a peer and counts them', async () => {
    const s1 = lab.servers[0]!;
    const before = (await statusJson(s1)).ingressFilter.droppedPackets as number;
    expect(await inject()).toBe(0);
    const st = await statusJson(s1);
    expect(st.ingressFilter.present).toBe(true);
    expect(st.ingressFilter.droppedPackets - before).toBeGreaterThanOrEqual(1);
    // The peers still talk.
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
  });

  it("leaves another VXLAN user of the same port on another local address alone (a hand-made VTEP keeps working)", async () => {
    const s1 = lab.servers[0]!;
    const other = await lab.addUnderlayHost('frn', '198.18.0.201');
    await ns(s1.ns, 'ip', 'addr', 'add', '198.18.0.101/24', 'dev', 'eth0');
    await ns(s1.ns, 'ip', 'link', 'add', 'vxf', 'type', 'vxlan', 'id', '7777', 'local', '198.18.0.101', 'remote', '198.18.0.201', 'dstport', '4789', 'dev', 'eth0');
    await ns(other, 'ip', 'link', 'add', 'vxf', 'type', 'vxlan', 'id', '7777', 'local', '198.18.0.201', 'remote', '198.18.0.101', 'dstport', '4789', 'dev', 'eth0');
    await ns(s1.ns, 'ip', 'addr', 'add', '100.64.9.1/30', 'dev', 'vxf');
    await ns(other, 'ip', 'addr', 'add', '100.64.9.2/30', 'dev', 'vxf');
    await ns(s1.ns, 'ip', 'link', 'set', 'vxf', 'up');
    await ns(other, 'ip', 'link', 'set', 'vxf', 'up');
    try {
      await waitFor('filter in place', async () => (await statusJson(s1)).ingressFilter.present === true, 10_000);
      const r = await execa('ip', ['netns', 'exec', other, 'ping', '-c', '3', '-i', '0.3', '-W', '1', '100.64.9.1'], { reject: false, timeout: 15_000 });
      expect(r.stdout).toMatch(/[1-3] received/);
      // The filter still guards vxmesh's own address.
      expect(await inject()).toBe(0);
    } finally {
      await ns(s1.ns, 'ip', 'link', 'del', 'vxf').catch(() => undefined);
      await ns(s1.ns, 'ip', 'addr', 'del', '198.18.0.101/24', 'dev', 'eth0').catch(() => undefined);
    }
  });

  it('negative control: with ingress_filter off the same frames reach the container', async () => {
    const s1 = lab.servers[0]!;
    lab.writeConfig(s1, peersYaml(lab.servers, { ingress_filter: false }));
    await waitFor('ingress table removed from the kernel', async () => (await run('sh', ['-c', `ip netns exec ${s1.ns} nft list table inet vxmesh >/dev/null 2>&1 && echo present || echo gone`])).trim() === 'gone', 5000);
    // Up to three bounded attempts: on a loaded machine one round of ARP can be lost on the way.
    let arrived = 0;
    for (let attempt = 0; attempt < 3 && arrived === 0; attempt++) arrived = await inject();
    expect(arrived).toBeGreaterThanOrEqual(1);
    lab.writeConfig(s1, peersYaml(lab.servers));
    await waitFor('ingress table back', async () => (await statusJson(s1)).ingressFilter.present === true, 5000);
    const dropped = (await statusJson(s1)).ingressFilter.droppedPackets as number;
    expect(await inject()).toBe(0);
    // Zero arrived because they were dropped, not because none were sent.
    expect((await statusJson(s1)).ingressFilter.droppedPackets).toBeGreaterThan(dropped);
  });
});

describe('loop prevention under tampering (3 servers)', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 3);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  async function vxlanPacketsForOneArp(): Promise<number> {
    await countVxlanOnUnderlay(lab.underlay);
    await ping(lab.containers[0]!, '100.64.0.251');
    return readCounter(lab.underlay, 'vxcount');
  }

  it('a flushed chain on every server is restored by an event, not the resync; one ARP stays in the tens', async () => {
    await Promise.all(lab.servers.map((s) => ns(s.ns, 'ebtables', '-t', 'filter', '-F', 'VXMESH')));
    for (const s of lab.servers) {
      const took = await waitFor(`${s.ns} chain restored`, async () => (await chainRules(s.ns)).length === 3, EVENT_DRIVEN_MS, 20);
      console.info(`${s.ns}: chain restored ${took} ms after the flush`);
    }
    const packets = await vxlanPacketsForOneArp();
    console.info(`chain flushed on all 3 servers and restored: one ARP made ${packets} VXLAN packets`);
    expect(packets).toBeGreaterThanOrEqual(2);
    expect(packets).toBeLessThan(60);
  });

  it('isolation unset on a port is restored by an event (isolated mode)', async () => {
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, { loop_prevention: 'isolated' }));
    for (const s of lab.servers) {
      await waitFor(`${s.ns} isolated, chain gone`, async () => (await vxlanLinks(s.ns)).every((l) => l.linkinfo?.info_slave_data?.isolated === true) && (await chainRules(s.ns)).length === 0, 5000);
    }
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'bridge', 'link', 'set', 'dev', 'vxlan2', 'isolated', 'off');
    const took = await waitFor('isolation restored', async () => (await vxlanLinks(s1.ns)).find((l) => l.ifname === 'vxlan2')?.linkinfo?.info_slave_data?.isolated === true, EVENT_DRIVEN_MS, 20);
    console.info(`isolation restored ${took} ms after it was unset`);
    const packets = await vxlanPacketsForOneArp();
    expect(packets).toBeLessThan(60);
    expect(await ping(lab.containers[0]!, lab.containers[2]!.address)).toBe(true);
  });

  it('the port rules alone stop a loop; with the daemons gone and no loop prevention, one ARP storms (windows bounded to 200 ms)', async () => {
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers));
    for (const s of lab.servers) await waitFor(`${s.ns} back to ebtables`, async () => (await chainRules(s.ns)).length === 3, 5000);
    await Promise.all(lab.servers.map((s) => lab.stopDaemon(s, 'SIGKILL')));
    // The ports' isolation off (the daemons are gone, nothing restores it): the rules alone remain.
    const ports = lab.servers.flatMap((s) => lab.servers.filter((o) => o !== s).map((o) => ({ ns: s.ns, dev: `vxlan${o.index}` })));
    await run('sh', ['-c', ports.map((p) => `bridge -n ${p.ns} link set dev ${p.dev} isolated off`).join('; ')]);
    // One shell so each window is short: one ARP, 200 ms, then every VXLAN port goes down.
    const down = ports.map((p) => `ip -n ${p.ns} link set ${p.dev} down`).join('; ');
    // Each window asks for a different absent address: a second ping to the first would wait on its pending ARP.
    const oneArpThenDown = (absent: string) => `(ip netns exec ${lab.containers[0]!.ns} ping -c 1 -W 1 ${absent} >/dev/null 2>&1 &) ; sleep 0.2; ${down}`;
    await countVxlanOnUnderlay(lab.underlay);
    await run('sh', ['-c', oneArpThenDown('100.64.0.252')]);
    const rulesOnly = await readCounter(lab.underlay, 'vxcount');
    console.info(`one rule per port, no isolation: one ARP made ${rulesOnly} VXLAN packets in 200 ms`);
    expect(rulesOnly).toBeGreaterThanOrEqual(2);
    expect(rulesOnly).toBeLessThan(60);
    // Now both layers off.
    await run('sh', ['-c', ports.map((p) => `ip -n ${p.ns} link set ${p.dev} up`).join('; ')]);
    await Promise.all(lab.servers.map((s) => ns(s.ns, 'ebtables', '-t', 'filter', '-F', 'VXMESH')));
    await countVxlanOnUnderlay(lab.underlay);
    await run('sh', ['-c', oneArpThenDown('100.64.0.253')]);
    const storm = await readCounter(lab.underlay, 'vxcount');
    console.info(`negative control: one ARP without loop prevention became ${storm} VXLAN packets in 200 ms`);
    expect(storm).toBeGreaterThan(1000);
    // The daemons restore the rules and isolation before they bring the ports back up.
    for (const s of lab.servers) lab.startDaemon(s);
    for (const s of lab.servers) await waitForConverged(s, 2);
    for (const s of lab.servers) expect((await chainRules(s.ns)).length).toBe(3);
    expect(await vxlanPacketsForOneArp()).toBeLessThan(60);
  });
});

/** Put these tools (found on the machine's PATH) into `bin`, the only PATH a daemon will get. */
async function linkTools(bin: string, tools: string[]): Promise<void> {
  for (const tool of tools) symlinkSync((await run('sh', ['-c', `command -v ${tool}`])).trim(), join(bin, tool));
}

/** Two servers; server 1's daemon sees only the tools in `bin`. */
async function twoServersWithPath(lab: Lab, bin: string) {
  await lab.init();
  const s1 = await lab.addServer(1);
  const s2 = await lab.addServer(2);
  for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers));
  lab.startDaemon(s1, [], { PATH: bin });
  lab.startDaemon(s2);
  return { s1, s2 };
}

describe('missing ebtables', () => {
  const lab = new Lab();
  const bin = mkdtempSync(join(tmpdir(), 'vxmesh-bin-'));
  afterAll(async () => {
    await lab.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('attaches no port without loop prevention, says why, and recovers when ebtables appears', async () => {
    // A PATH with every tool the daemon uses except ebtables.
    await linkTools(bin, ['ip', 'bridge', 'nft']);
    const { s1, s2 } = await twoServersWithPath(lab, bin);
    await waitForConverged(s2, 1);
    await waitFor('s1 reports ebtables missing', async () => JSON.stringify((await statusJson(s1)).reasons).includes('ebtables'), 10_000);
    const devs = await vxlanLinks(s1.ns);
    expect(devs.map((d) => d.ifname)).toEqual(['vxlan2']);
    expect(devs[0]!.master).toBeUndefined();
    expect(devs[0]!.flags).not.toContain('UP');
    const st = await statusJson(s1);
    expect(st.state).toBe('degraded');
    expect(st.loopPrevention.problem).toMatch(/no working ebtables .*apt-get install iptables/);

    await linkTools(bin, ['ebtables', 'ebtables-save', 'ebtables-restore']);
    await waitForConverged(s1, 1, 20_000);
    expect((await statusJson(s1)).state).toBe('running');
  });
});

describe('missing nft', () => {
  const lab = new Lab();
  const bin = mkdtempSync(join(tmpdir(), 'vxmesh-bin-'));
  afterAll(async () => {
    await lab.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  it('the mesh still comes up (loop prevention does not need nft), and status says the ingress filter is missing', async () => {
    await linkTools(bin, ['ip', 'bridge', 'ebtables', 'ebtables-save', 'ebtables-restore']);
    const { s1, s2 } = await twoServersWithPath(lab, bin);
    await waitForConverged(s1, 1);
    expect((await chainRules(s1.ns))[0]).toBe('-o ! vxlan+ -j RETURN');
    await waitFor('status names nft', async () => /nft unavailable/.test((await statusJson(s1)).ingressFilter.problem ?? ''), 10_000);
    const st = await statusJson(s1);
    expect(st.state).toBe('degraded');
    expect(st.ingressFilter.present).toBe(false);
    const c1 = await lab.addContainer(s1, 1);
    const c2 = await lab.addContainer(s2, 2);
    expect(await ping(c1, c2.address)).toBe(true);
  });
});
