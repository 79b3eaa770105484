import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMesh, Lab, peersYaml, ping, statusJson, vxlanLinks, waitFor } from '../helpers/lab.js';

describe('config churn and bad files', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 2);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  const ifindexes = async () => (await vxlanLinks(lab.servers[0]!.ns)).map((l) => `${l.ifname}:${l.ifindex}:${l.linkinfo?.info_data?.remote}`);

  it('100 rewrites in quick succession are coalesced, and the end state is the last file', async () => {
    const s1 = lab.servers[0]!;
    const before = (await statusJson(s1)).counters.reconciles as number;
    for (let k = 0; k < 100; k++) {
      // A third peer whose address moves on every save (in-place writes and rename-over mixed).
      const text = peersYaml([...lab.servers, { index: 9, address: `198.18.1.${k + 1}` }]);
      if (k % 2) lab.writeConfig(s1, text);
      else writeFileSync(join(s1.configDir, 'peers.yaml'), text);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor('vxlan9 points at the last address', async () => (await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan9' && l.linkinfo?.info_data?.remote === '198.18.1.100'), 5000).catch((err: Error) => {
      throw new Error(`${err.message}\ndaemon log:\n${lab.log(s1).split('\n').slice(-40).join('\n')}`);
    });
    await new Promise((r) => setTimeout(r, 300));
    const reconciles = ((await statusJson(s1)).counters.reconciles as number) - before;
    console.info(`100 saves in about 2 s: ${reconciles} reconciles`);
    expect(reconciles).toBeLessThan(100);
    expect(reconciles).toBeGreaterThan(0);
    expect((await vxlanLinks(s1.ns)).find((l) => l.ifname === 'vxlan9')?.linkinfo?.info_data?.remote).toBe('198.18.1.100');
    lab.writeConfig(s1, peersYaml(lab.servers));
    await waitFor('vxlan9 removed', async () => !(await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan9'), 5000);
  });

  it('an empty file, a truncated file and a deleted file never tear the mesh down', async () => {
    const s1 = lab.servers[0]!;
    const good = peersYaml(lab.servers);
    const before = await ifindexes();
    const path = join(s1.configDir, 'peers.yaml');
    for (const [what, apply, expectText] of [
      ['empty', () => writeFileSync(path, ''), /no peers defined/],
      ['truncated', () => writeFileSync(path, good.slice(0, good.indexOf('address: 198.18.0.2') + 12)), /peers\.yaml:\d+:\d+/],
      ['deleted', () => rmSync(path), /file not found/],
    ] as const) {
      apply();
      await waitFor(`${what} file reported`, async () => expectText.test(JSON.stringify((await statusJson(s1)).config.lastError ?? '')), 5000);
      expect(await ifindexes(), what).toEqual(before);
      expect(await ping(lab.containers[0]!, lab.containers[1]!.address), what).toBe(true);
      lab.writeConfig(s1, good);
      await waitFor('config valid again', async () => (await statusJson(s1)).config.lastError === null, 5000);
    }
  });

  it('a peer name that tries shell injection is rejected with its position, nothing runs', async () => {
    const s1 = lab.servers[0]!;
    const before = await ifindexes();
    const canary = join(lab.dir, 'pwned');
    lab.writeConfig(s1, peersYaml(lab.servers) + `  - { name: "x; touch ${canary}", id: 7, address: 198.18.0.7 }\n`);
    await waitFor('rejected', async () => /peers\.yaml:\d+:\d+: peers\[2\]\.name: must be/.test(JSON.stringify((await statusJson(s1)).config.lastError ?? '')), 5000);
    expect(await ifindexes()).toEqual(before);
    expect(existsSync(canary)).toBe(false);
    lab.writeConfig(s1, peersYaml(lab.servers));
  });
});
