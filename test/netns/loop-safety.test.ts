import { execa } from 'execa';
import { closeSync, ftruncateSync, openSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, chainRules, forwardRules, Lab, links, ns, peersYaml, run, statusJson, vxlanLinks, waitFor, waitForConverged, type Server } from '../helpers/lab.js';
import { ToolFaults } from '../helpers/tool-faults.js';

/**
 * Loop safety when the tools fail, and the daemon's trust in what it reads (issue: hardening,
 * round 2). Failing tools are simulated with wrappers first on one daemon's PATH
 * (test/helpers/tool-faults.ts); everything else is the real kernel.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Servers 1..n; server 1's daemon runs with the fault wrappers on its PATH. */
async function meshWithFaults(lab: Lab, faults: ToolFaults, n: number, mesh: Record<string, unknown> = {}, opts: { converged?: boolean } = {}): Promise<Server[]> {
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i);
  for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, mesh));
  lab.startDaemon(lab.servers[0]!, [], { PATH: faults.bin });
  for (const s of lab.servers.slice(1)) lab.startDaemon(s);
  if (opts.converged) for (const s of lab.servers) await waitForConverged(s, n - 1, 60_000);
  return lab.servers;
}

/**
 * Count VXLAN packets carrying an ARP frame (outer IP length 20 + 8 + 8 + 42 = 78) from one
 * underlay address to another on the underlay bridge (counter `pair`), and from server 2 to the
 * same address (counter `direct`). The length keeps the servers' own IPv6 noise (MLD, router
 * solicitations from the bridge) out of the count.
 */
async function countPair(underlay: string, from: string, to: string): Promise<void> {
  await run('ip', ['netns', 'exec', underlay, 'nft', '-f', '-'], `table bridge vxpair
delete table bridge vxpair
table bridge vxpair {
  counter pair {}
  counter direct {}
  chain f { type filter hook forward priority 0; ip saddr ${from} ip daddr ${to} ip length 78 udp dport 4789 counter name pair; ip saddr 198.18.0.2 ip daddr ${to} ip length 78 udp dport 4789 counter name direct; }
}
`);
}

async function counter(nsName: string, name: string): Promise<number> {
  const items = (JSON.parse(await ns(nsName, 'nft', '-j', 'list', 'counters')) as { nftables: { counter?: { name: string; packets: number } }[] }).nftables;
  return items.find((i) => i.counter?.name === name)?.counter?.packets ?? -1;
}

/** A broadcast from container 2 (ARP for an address nobody has): what server 1 forwards to server 3, and what reached 3 directly. */
async function broadcastFromServer2(lab: Lab): Promise<{ forwarded: number; direct: number }> {
  await countPair(lab.underlay, '198.18.0.1', '198.18.0.3');
  await execa('ip', ['netns', 'exec', lab.containers[1]!.ns, 'ping', '-c', '3', '-i', '0.3', '-W', '1', '100.64.0.250'], { reject: false, timeout: 10_000 });
  await sleep(300);
  return { forwarded: await counter(lab.underlay, 'pair'), direct: await counter(lab.underlay, 'direct') };
}

/** Servers 1..n with the real tools, converged. */
async function plainMesh(lab: Lab, n: number): Promise<Server[]> {
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i);
  for (const s of lab.servers) {
    lab.writeConfig(s, peersYaml(lab.servers));
    lab.startDaemon(s);
  }
  for (const s of lab.servers) await waitForConverged(s, n - 1, 60_000);
  return lab.servers;
}

function ifindex(nsLinks: { ifname: string; ifindex: number }[], name: string): number | undefined {
  return nsLinks.find((l) => l.ifname === name)?.ifindex;
}

describe('loop safety when the chain cannot be written (ebtables failing)', () => {
  const lab = new Lab();
  let faults: ToolFaults;
  afterAll(async () => {
    await lab.cleanup();
    faults?.cleanup();
  });

  it('ports stay isolated: a broadcast from one remote reaches no other remote, and status says why', async () => {
    faults = await ToolFaults.create();
    const [s1] = await meshWithFaults(lab, faults, 3, {}, { converged: true });
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    faults.fail('ebtables');
    faults.fail('ebtables-restore');
    await ns(s1!.ns, 'ebtables', '-t', 'filter', '-F', 'VXMESH');
    await waitFor('s1 reports the rules missing and the failing restore', async () => {
      const st = await statusJson(s1!);
      return (/rules missing: 0 of 2/.test(st.loopPrevention.problem ?? '') && /simulated failure/.test(JSON.stringify(st.lastReconcile?.errors ?? []))) || JSON.stringify(st.loopPrevention);
    }, 10_000);
    expect(await chainRules(s1!.ns)).toEqual([]);
    const { forwarded, direct } = await broadcastFromServer2(lab);
    console.info(`chain flushed on s1, ebtables failing: s1 forwarded ${forwarded} VXLAN packets of container 2's broadcasts to s3 (s2 sent ${direct} to s3 directly)`);
    expect(direct).toBeGreaterThanOrEqual(1); // the broadcasts were sent
    expect(forwarded).toBe(0);
    const ports = await vxlanLinks(s1!.ns);
    expect(ports.map((p) => [p.ifname, p.master, p.linkinfo?.info_slave_data?.isolated])).toEqual([
      ['vxlan2', 'vxbr0', true],
      ['vxlan3', 'vxbr0', true],
    ]);
    const st = await statusJson(s1!);
    expect(st.state).toBe('degraded');
    expect(st.loopPrevention.problem).toMatch(/2 of 2 attached ports isolated/);
    faults.fail('ebtables', false);
    faults.fail('ebtables-restore', false);
    await waitFor('chain restored once ebtables works', async () => (await chainRules(s1!.ns)).length === 3, 20_000);
  });
});

describe('isolated mode trusts only what it reads back', () => {
  const lab = new Lab();
  let faults: ToolFaults;
  afterAll(async () => {
    await lab.cleanup();
    faults?.cleanup();
  });

  it('a port whose isolation is refused is attached but never brought up; it comes up once isolation reads back', async () => {
    faults = await ToolFaults.create();
    faults.drop('ip', ['isolated on']);
    const [s1] = await meshWithFaults(lab, faults, 2, { loop_prevention: 'isolated' });
    await waitFor('s1 reports the refused isolation', async () => /simulated refusal/.test(JSON.stringify((await statusJson(s1!)).lastReconcile?.errors ?? [])), 15_000);
    await sleep(1000); // retries run meanwhile
    const [v2] = await vxlanLinks(s1!.ns);
    expect(v2!.linkinfo?.info_slave_data?.isolated).not.toBe(true);
    expect(v2!.flags).not.toContain('UP');
    expect((await statusJson(s1!)).loopPrevention.problem).toMatch(/not isolated/);
    faults.drop('ip', []);
    await waitForConverged(s1!, 1, 60_000);
    expect((await vxlanLinks(s1!.ns))[0]!.linkinfo?.info_slave_data?.isolated).toBe(true);
  });

  it('switching ebtables -> isolated keeps the chain while a port is not isolated', async () => {
    const [s1] = lab.servers;
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers));
    await waitFor('ebtables mode: chain and jump back', async () => (await chainRules(s1!.ns)).length === 2 && (await forwardRules(s1!.ns)).length === 1, 10_000);
    faults.drop('ip', ['isolated on']);
    await ns(s1!.ns, 'bridge', 'link', 'set', 'dev', 'vxlan2', 'isolated', 'off');
    lab.writeConfig(s1!, peersYaml(lab.servers, { loop_prevention: 'isolated' }));
    await waitFor('s1 tried isolated mode', async () => (await statusJson(s1!)).loopPrevention.mode === 'isolated' && /simulated refusal/.test(JSON.stringify((await statusJson(s1!)).lastReconcile?.errors ?? [])), 10_000);
    await sleep(1000);
    expect(await chainRules(s1!.ns)).toEqual(['-o ! vxlan+ -j RETURN', '-i vxlan2 -o vxlan+ -j DROP']);
    expect(await forwardRules(s1!.ns)).toEqual(['-A FORWARD -i vxlan+ -j VXMESH']);
    faults.drop('ip', []);
    await waitFor('isolated, then the chain removed', async () => (await vxlanLinks(s1!.ns))[0]?.linkinfo?.info_slave_data?.isolated === true && (await forwardRules(s1!.ns)).length === 0, 20_000);
  });
});

describe('stop removes loop prevention last', () => {
  const lab = new Lab();
  let faults: ToolFaults;
  afterAll(async () => {
    await lab.cleanup();
    faults?.cleanup();
  });

  it('a failed delete leaves the chain and jump, status says so, and a retry completes the teardown', async () => {
    faults = await ToolFaults.create();
    const [s1] = await meshWithFaults(lab, faults, 3, {}, { converged: true });
    faults.drop('ip', ['link del dev vxlan2', 'link del dev vxbr0']);
    const stop = await execa('ip', ['netns', 'exec', s1!.ns, process.execPath, CLI, 'stop', '--state-dir', s1!.stateDir, '--json'], { reject: false, timeout: 60_000 });
    const result = JSON.parse(stop.stdout) as { ok: boolean; errors: string[] };
    expect(result.ok).toBe(false);
    expect(result.errors.join(' ')).toMatch(/simulated refusal/);
    await sleep(1000); // retries run meanwhile
    const v = await vxlanLinks(s1!.ns);
    expect(v.map((l) => [l.ifname, l.master])).toEqual([['vxlan2', 'vxbr0']]);
    expect((await chainRules(s1!.ns)).length).toBe(3);
    expect(await forwardRules(s1!.ns)).toEqual(['-A FORWARD -i vxlan+ -j VXMESH']);
    const st = await statusJson(s1!);
    expect(st.state).toBe('stopped');
    expect(st.reasons.join(' ')).toMatch(/teardown incomplete: vxlan2 still attached/);
    faults.drop('ip', []);
    await waitFor('teardown completed by a retry', async () => (await vxlanLinks(s1!.ns)).length === 0 && (await chainRules(s1!.ns)).length === 0 && (await forwardRules(s1!.ns)).length === 0, 40_000);
    expect((await statusJson(s1!)).reasons).toEqual(['stopped with `vxmesh stop`']);
  });
});

describe('the FORWARD jump stands first', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a rule inserted before the jump that accepts is detected and the jump moved back; the foreign rule stays', async () => {
    await plainMesh(lab, 3);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'ebtables', '-t', 'filter', '-I', 'FORWARD', '1', '-j', 'ACCEPT');
    const took = await waitFor('jump first again', async () => JSON.stringify(await forwardRules(s1.ns)) === JSON.stringify(['-A FORWARD -i vxlan+ -j VXMESH', '-A FORWARD -j ACCEPT']), 10_000, 20);
    console.info(`jump moved back above the foreign ACCEPT ${took} ms after it was inserted`);
    // The change is logged (the log is written asynchronously).
    await waitFor('the move logged', async () => lab.log(s1).includes('move FORWARD jump to VXMESH back to the top (the rule \\"-j ACCEPT\\" stood before it)'), 5000);
    const { forwarded, direct } = await broadcastFromServer2(lab);
    expect(direct).toBeGreaterThanOrEqual(1);
    expect(forwarded).toBe(0);
    await waitFor('status running', async () => (await statusJson(s1)).state === 'running', 10_000);
  });
});

describe('interface names from the kernel', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a device with our alias but a name vxmesh never gives is foreign: no foreign bridge deleted, no batch aborted', async () => {
    const s1 = (await plainMesh(lab, 2))[0]!;
    await run('ip', ['-n', s1.ns, 'link', 'add', 'victim', 'type', 'bridge']);
    for (const [name, id, alias] of [['victim#x', '999', 'vxmesh:ghost'], ['"q', '998', 'vxmesh:ghost2']] as const) {
      await run('ip', ['-n', s1.ns, 'link', 'add', 'name', name, 'type', 'vxlan', 'id', id, 'remote', '198.18.0.9', 'dstport', '4789', 'dev', 'eth0']);
      await run('ip', ['-n', s1.ns, 'link', 'set', 'dev', name, 'alias', alias]);
    }
    // A repair that needs a batch: vxlan2 deleted.
    await run('ip', ['-n', s1.ns, 'link', 'del', 'vxlan2']);
    await waitForConverged(s1, 1, 30_000);
    await sleep(1000);
    const names = (await links(s1.ns)).map((l) => l.ifname);
    expect(names).toContain('victim');
    expect(names).toContain('victim#x');
    expect(names).toContain('"q');
    expect(lab.log(s1)).not.toMatch(/victim/);
  });
});

describe('config files written slowly', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a valid prefix of the peers list deletes no link; the full file is applied afterwards', async () => {
    await lab.init();
    const s1 = await lab.addServer(1);
    const peers = [1, 2, 3, 4].map((i) => ({ index: i, address: `198.18.0.${i}` }));
    lab.writeConfig(s1, peersYaml(peers.slice(0, 3)));
    lab.startDaemon(s1);
    await waitForConverged(s1, 2, 60_000);
    const before = ifindex(await links(s1.ns), 'vxlan3');
    // In place, as `cat > peers.yaml` or a slow editor writes: truncate, a prefix (srv1, srv2), a pause, the rest (srv3, srv4).
    const full = peersYaml(peers);
    const cut = full.indexOf('  - { name: srv3');
    const fd = openSync(join(s1.configDir, 'peers.yaml'), 'r+');
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, full.slice(0, cut), 0);
      fsyncSync(fd);
      await sleep(800);
      writeSync(fd, full.slice(cut), cut);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await waitForConverged(s1, 3, 30_000);
    expect(ifindex(await links(s1.ns), 'vxlan3')).toBe(before);
    await waitFor('the held removal logged', async () => lab.log(s1).includes('config removes peers; applied once the files read the same again'), 5000);
    // A removal that is really meant is applied once the files read the same.
    lab.writeConfig(s1, peersYaml(peers.slice(0, 3)));
    await waitFor('vxlan4 removed', async () => ifindex(await links(s1.ns), 'vxlan4') === undefined, 10_000);
  });
});

describe('last good config', () => {
  const lab = new Lab();
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a daemon started with an invalid config brings the mesh up from the config saved by its last good run', async () => {
    const [s1, s2] = (await plainMesh(lab, 2)) as [Server, Server];
    await lab.stopDaemon(s1);
    await run('ip', ['-n', s1.ns, 'link', 'del', 'vxlan2']);
    await run('ip', ['-n', s1.ns, 'link', 'del', 'vxbr0']);
    lab.writeConfig(s1, 'peers:\n  - { name: srv1, id: 1 }\n');
    lab.startDaemon(s1);
    await waitForConverged(s1, 1, 60_000);
    const st = await statusJson(s1);
    expect(st.config.lastError.join(' ')).toMatch(/peers\.yaml:2/);
    expect(st.config.fromStateDir).toMatch(/^\d{4}-/);
    expect(st.reasons.join(' ')).toMatch(/using the last good config saved in the state directory/);
    const c1 = await lab.addContainer(s1, 1);
    await lab.addContainer(s2, 2);
    const ok = await execa('ip', ['netns', 'exec', c1.ns, 'ping', '-c', '1', '-W', '2', '100.64.0.2'], { reject: false, timeout: 10_000 });
    expect(ok.exitCode).toBe(0);

    // With no good run before, nothing is applied and status does not claim otherwise.
    const s3 = await lab.addServer(3);
    lab.writeConfig(s3, 'peers:\n  - { name: srv3, id: 3 }\n');
    lab.startDaemon(s3);
    await waitFor('s3 reports the invalid config', async () => (await statusJson(s3)).config.lastError !== null, 15_000);
    const st3 = await statusJson(s3);
    expect(st3.config.fromStateDir).toBeNull();
    expect(st3.reasons.join(' ')).toMatch(/nothing applied: no last good config/);
    expect(st3.reasons.join(' ')).not.toMatch(/last good config still applied/);
  });

  it('a restart whose files read as before takes the saved config without parsing them; after an edit it parses', async () => {
    const s2 = lab.servers[1]!;
    const loads = () => lab.log(s2).split('\n').filter((l) => l.includes('"msg":"config loaded"')).map((l) => (JSON.parse(l) as { parsed: boolean }).parsed);
    // Stop, optionally edit the files meanwhile, start: was the config parsed?
    const restart = async (edit?: string) => {
      await lab.stopDaemon(s2);
      if (edit) lab.writeConfig(s2, `# ${edit}\n${peersYaml(lab.servers.slice(0, 2))}`);
      const before = loads().length;
      lab.startDaemon(s2);
      await waitFor('config loaded after the restart', async () => loads().length > before, 15_000);
      await waitForConverged(s2, 1, 60_000);
      return loads().at(-1);
    };
    expect(await restart()).toBe(false);
    expect(await restart('a comment added')).toBe(true);
    expect(await restart()).toBe(false);
  });
});
