import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, links, ns, peersYaml, ping, statusJson, waitFor, waitForConverged, type Server } from '../helpers/lab.js';

/**
 * A bridge vxmesh did not make (netplan, an admin, LXD) with an MTU other than the mesh's: vxmesh
 * uses it, never changes its MTU (the owner's other ports and config depend on it), and says so
 * in status until its owner sets it.
 */
describe('a bridge made by someone else, with MTU 1400', () => {
  const lab = new Lab();
  let s1: Server;
  beforeAll(async () => {
    await lab.init();
    s1 = await lab.addServer(1);
    const s2 = await lab.addServer(2);
    await ns(s1.ns, 'ip', 'link', 'add', 'vxbr0', 'type', 'bridge');
    // Set after creation, as netplan and admins do: the kernel keeps an MTU set that way when
    // ports join (one it was created with, it lowers to the smallest port's by itself).
    await ns(s1.ns, 'ip', 'link', 'set', 'vxbr0', 'mtu', '1400', 'up');
    for (const s of [s1, s2]) {
      lab.writeConfig(s, peersYaml(lab.servers));
      lab.startDaemon(s);
    }
    for (const s of lab.servers) await waitForConverged(s, 1);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  const bridgeMtu = async () => (await links(s1.ns)).find((l) => l.ifname === 'vxbr0')?.mtu;
  const reason = /^bridge vxbr0 was not made by vxmesh and has mtu 1400, not the mesh mtu 1450; vxmesh leaves it as it is/;

  it('is used but keeps its MTU; status names the mismatch until its owner fixes it', async () => {
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
    // A reconcile has run on it (the ports are attached): the MTU is still the owner's.
    expect(await bridgeMtu()).toBe(1400);
    const st = await statusJson(s1);
    expect(st.state).toBe('degraded');
    expect(st.reasons.some((r: string) => reason.test(r)), JSON.stringify(st.reasons)).toBe(true);
    await ns(s1.ns, 'ip', 'link', 'set', 'vxbr0', 'mtu', '1450');
    await waitFor('the mismatch cleared', async () => {
      const now = await statusJson(s1);
      return !now.reasons.some((r: string) => reason.test(r)) || JSON.stringify(now.reasons);
    }, 15_000);
    expect(await bridgeMtu()).toBe(1450);
  }, 60_000);
});
