import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, ns, ping, statusJson, vxlanLinks, waitFor, waitForConverged, type Server } from '../helpers/lab.js';
import { importLegacy } from '../../src/cli/import-legacy.js';
import { importLegacyServers } from '../../src/legacy/import.js';
import { parseLegacyText } from '../../src/legacy/parse.js';

/**
 * A mesh in the middle of a migration: srv1 and srv3 still run a vxlansetup.sh-style
 * setup (plain ip/ebtables commands, VNI = index of the remote in REMOTEIPS, learning
 * on), srv2 has moved to vxmesh with the peers file `vxmesh import-legacy` wrote from
 * the three servers' scripts (its own `legacy:` line deleted, as the migration guide says).
 */

/** The variable block of vxlansetup.sh on server `i` of `all`: remotes in natural order. */
function scriptVariables(i: number, all: number[]): string {
  return [
    '#!/bin/bash',
    `LOCAL_DEV=eth0`,
    `LOCALIP=198.18.0.${i}`,
    `REMOTEIPS="${all.filter((x) => x !== i).map((x) => `198.18.0.${x}`).join(' ')}"`,
    'BRIDGE_DEV=vxbr0',
    'VXLAN_DEV=vxlan',
    'PORT=4789',
    '',
  ].join('\n');
}

/** What vxlansetup.sh start does, as plain commands: bridge, one device per remote with id = index, pairwise DROP rules. */
async function scriptStart(server: Server, remotes: string[]): Promise<void> {
  await ns(server.ns, 'ip', 'link', 'add', 'vxbr0', 'type', 'bridge');
  await ns(server.ns, 'ip', 'link', 'set', 'vxbr0', 'up');
  for (const [id, remote] of remotes.entries()) {
    await ns(server.ns, 'ip', 'link', 'add', `vxlan${id}`, 'type', 'vxlan', 'id', String(id), 'remote', remote, 'local', server.address, 'dev', 'eth0', 'dstport', '4789');
    await ns(server.ns, 'ip', 'link', 'set', `vxlan${id}`, 'mtu', '1450');
  }
  for (let a = 0; a < remotes.length; a++) {
    for (let b = 0; b < remotes.length; b++) {
      if (a !== b) await ns(server.ns, 'ebtables', '-A', 'FORWARD', '-i', `vxlan${a}`, '-o', `vxlan${b}`, '-j', 'DROP');
    }
  }
  for (const id of remotes.keys()) {
    await ns(server.ns, 'ip', 'link', 'set', `vxlan${id}`, 'master', 'vxbr0');
    await ns(server.ns, 'ip', 'link', 'set', `vxlan${id}`, 'up');
  }
}

describe('migration: vxmesh next to servers still running vxlansetup.sh', () => {
  const lab = new Lab();
  const all = [1, 2, 3];
  let report = '';

  beforeAll(async () => {
    await lab.init();
    for (const i of all) await lab.addServer(i);
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];

    // The scripts of the three servers, as an operator would collect them.
    const files: string[] = [];
    for (const i of all) {
      const path = join(lab.dir, `srv${i}.sh`);
      await writeFile(path, scriptVariables(i, all));
      files.push(path);
    }
    const output = join(lab.dir, 'imported.yaml');
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => ((report += s), true)) as typeof process.stderr.write;
    try {
      expect(await importLegacy([...files, '-o', output], {})).toBe(0);
    } finally {
      process.stderr.write = write;
    }
    const imported = await readFile(output, 'utf8');
    // srv2 moves: its legacy line goes, everything else stays as imported.
    const lines = imported.split('\n');
    const at = lines.indexOf('  - name: srv2');
    expect(at).toBeGreaterThan(0);
    const legacyLine = lines.findIndex((l, n) => n > at && l.startsWith('    legacy:'));
    expect(legacyLine).toBe(at + 4);
    lines.splice(legacyLine, 1);
    lab.writeConfig(s2, lines.join('\n'));

    for (const s of [s1, s3]) {
      const parsed = parseLegacyText(scriptVariables(s.index, all), 'x');
      if (!parsed.ok) throw new Error('script variables do not parse');
      await scriptStart(s, parsed.server.remotes);
    }
    lab.startDaemon(s2);
    await waitForConverged(s2, 2);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  });

  afterAll(async () => {
    await lab.cleanup();
  });

  it('import-legacy reported the link whose ends disagree and that srv2 can move first', () => {
    expect(report).toContain('vni-mismatch: link srv1-srv3 uses VNI 1 on srv1 but VNI 0 on srv3');
    expect(report).toContain('can-move: srv2 can move to vxmesh now');
    expect(report).toContain('can-move: srv1 can move to vxmesh now; srv2 and srv3 all give it VNI 0, so it reaches them through one shared device (vxlanv0)');
  });

  it('vxmesh on srv2 uses the VNI each script end gives it, on nolearning devices', async () => {
    const devs = await vxlanLinks(lab.servers[1]!.ns);
    const byName = Object.fromEntries(devs.map((d) => [d.ifname, d]));
    expect(Object.keys(byName).sort()).toEqual(['vxlan1', 'vxlan3']);
    // srv1 lists srv2 at index 0, srv3 lists srv2 at index 1.
    expect(byName.vxlan1!.linkinfo?.info_data).toMatchObject({ id: 0, remote: '198.18.0.1', learning: false });
    expect(byName.vxlan3!.linkinfo?.info_data).toMatchObject({ id: 1, remote: '198.18.0.3', learning: false });
    const s = await statusJson(lab.servers[1]!);
    expect(s.links.map((l: { peer: string; vni: number; legacy: boolean }) => [l.peer, l.vni, l.legacy])).toEqual([
      ['srv1', 0, true],
      ['srv3', 1, true],
    ]);
  });

  it('the vxmesh server\'s container pings the containers of both script servers, and back', async () => {
    const [c1, c2, c3] = lab.containers as [any, any, any];
    await waitFor('c2 -> c1', async () => ping(c2, c1.address), 10_000, 200);
    for (const [a, b] of [[c2, c1], [c1, c2], [c2, c3], [c3, c2]] as const) {
      expect(await ping(a, b.address), `${a.address} -> ${b.address}`).toBe(true);
      expect(await ping(a, b.address, ['-M', 'do', '-s', '1422']), `DF 1422 ${a.address} -> ${b.address}`).toBe(true);
    }
  });

  it('the two script servers still reach each other over their mismatched link (through learning)', async () => {
    const [c1, , c3] = lab.containers as [any, any, any];
    await waitFor('c1 -> c3', async () => ping(c1, c3.address), 10_000, 200);
    expect(await ping(c3, c1.address)).toBe(true);
  });

  it('the import agrees with the pure function the verb uses', () => {
    const servers = all.map((i) => {
      const r = parseLegacyText(scriptVariables(i, all), `srv${i}.sh`);
      if (!r.ok) throw new Error('parse');
      return { name: `srv${i}`, server: r.server };
    });
    const r = importLegacyServers(servers);
    expect(r.ok && r.peers.map((p) => p.remotes)).toEqual([
      ['198.18.0.2', '198.18.0.3'],
      ['198.18.0.1', '198.18.0.3'],
      ['198.18.0.1', '198.18.0.2'],
    ]);
  });
});

describe('migration: the server both script neighbours give the same VNI moves first', () => {
  const lab = new Lab();
  const all = [1, 2, 3];

  beforeAll(async () => {
    await lab.init();
    for (const i of all) await lab.addServer(i);
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    const servers = all.map((i) => {
      const r = parseLegacyText(scriptVariables(i, all), `srv${i}.sh`);
      if (!r.ok) throw new Error('parse');
      return { name: `srv${i}`, server: r.server };
    });
    const r = importLegacyServers(servers);
    if (!r.ok) throw new Error(r.errors.join());
    // srv1 moves: srv2 and srv3 both list it first, so both links are VNI 0 on srv1.
    const lines = r.yaml.split('\n');
    const at = lines.indexOf('  - name: srv1');
    lines.splice(lines.findIndex((l, n) => n > at && l.startsWith('    legacy:')), 1);
    lab.writeConfig(s1, lines.join('\n'));
    for (const s of [s2, s3]) {
      const parsed = parseLegacyText(scriptVariables(s.index, all), 'x');
      if (!parsed.ok) throw new Error('script variables do not parse');
      await scriptStart(s, parsed.server.remotes);
    }
    lab.startDaemon(s1);
    await waitForConverged(s1, 1);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  });

  afterAll(async () => {
    await lab.cleanup();
  });

  it('srv1 has one shared, learning device on VNI 0 flooding to both script servers', async () => {
    const s1 = lab.servers[0]!;
    const devs = await vxlanLinks(s1.ns);
    expect(devs.map((d) => d.ifname)).toEqual(['vxlanv0']);
    expect(devs[0]!.linkinfo?.info_data).toMatchObject({ id: 0, learning: true });
    const fdb = JSON.parse(await ns(s1.ns, 'bridge', '-j', 'fdb', 'show', 'dev', 'vxlanv0')) as { mac: string; dst?: string }[];
    expect(fdb.filter((e) => e.mac === '00:00:00:00:00:00').map((e) => e.dst).sort()).toEqual(['198.18.0.2', '198.18.0.3']);
    const st = await statusJson(s1);
    expect(st.state).toBe('running');
    expect(st.links.map((l: { peer: string; device: string; vni: number; problem: string | null }) => [l.peer, l.device, l.vni, l.problem])).toEqual([
      ['srv2', 'vxlanv0', 0, null],
      ['srv3', 'vxlanv0', 0, null],
    ]);
  });

  it('srv1\'s container reaches both script servers\' containers, and back', async () => {
    const [c1, c2, c3] = lab.containers as [any, any, any];
    await waitFor('c1 -> c2', async () => ping(c1, c2.address), 10_000, 200);
    for (const [a, b] of [[c1, c2], [c2, c1], [c1, c3], [c3, c1]] as const) {
      expect(await ping(a, b.address), `${a.address} -> ${b.address}`).toBe(true);
      expect(await ping(a, b.address, ['-M', 'do', '-s', '1422']), `DF 1422 ${a.address} -> ${b.address}`).toBe(true);
    }
  });
});
