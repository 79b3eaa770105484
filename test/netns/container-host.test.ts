import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_DRIVEN_MS, buildMesh, Lab, ns, ping, run, statusJson, vxlanLinks, waitFor, type Server } from '../helpers/lab.js';

/**
 * A mesh server that is also a busy container host: veths that are not vxmesh's come and go.
 * Their events must not wake the daemon; events on its own devices still must.
 */
describe('a container host with unrelated veths churning', () => {
  const lab = new Lab();
  const VETHS = 40;
  let s1: Server;
  let other = '';
  beforeAll(async () => {
    await buildMesh(lab, 2);
    s1 = lab.servers[0]!;
    other = await lab.addNamespace('vc');
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  const vethLines = (k: number) => [`link add vc${k} type veth peer name p${k} netns ${other}`, `link set vc${k} up`];
  const batch = (lines: string[]) => run('ip', ['-n', s1.ns, '-batch', '-'], lines.join('\n') + '\n');

  it('veths made, brought up and deleted wake no reconcile; deleting a vxmesh device still does', async () => {
    await batch(Array.from({ length: VETHS }, (_, k) => vethLines(k)).flat());
    // Before: the resync (every 30 s) may fall in a window; the churn below is 120 events.
    await new Promise((r) => setTimeout(r, 1500));
    const before = (await statusJson(s1)).counters.reconciles as number;
    for (let round = 0; round < 3; round++) {
      const lines: string[] = [];
      for (let k = 0; k < VETHS; k++) lines.push(`link del vc${k}`, ...vethLines(k));
      await batch(lines);
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const runs = ((await statusJson(s1)).counters.reconciles as number) - before;
    console.info(`${3 * VETHS} veths replaced: ${runs} reconciles`);
    // At most the periodic resync; every one of those events woke a reconcile before.
    expect(runs).toBeLessThanOrEqual(1);

    await ns(s1.ns, 'ip', 'link', 'del', 'vxlan2');
    const took = await waitFor('vxlan2 made again', async () => (await vxlanLinks(s1.ns)).some((l) => l.ifname === 'vxlan2'), EVENT_DRIVEN_MS, 20);
    console.info(`vxlan2 deleted amid the churn: back after ${took} ms`);
    // The new port comes up and the containers' neighbour entries point at it again: a few pings.
    await waitFor('the containers ping across again', () => ping(lab.containers[0]!, lab.containers[1]!.address), 10_000, 100);
  }, 60_000);
});
