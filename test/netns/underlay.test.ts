import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMesh, Lab, ns, peersYaml, ping, run, statusJson, vxlanLinks, waitFor, waitForConverged, type Server } from '../helpers/lab.js';

/** Continuous ping (every 20 ms) from the first container to the second while `fault` runs. */
async function pingThrough(lab: Lab, seconds: number, fault: () => Promise<void>): Promise<{ sent: number; received: number }> {
  const [c1, c2] = lab.containers;
  const count = Math.round(seconds / 0.02);
  const p = execa('ip', ['netns', 'exec', c1!.ns, 'ping', '-i', '0.02', '-c', String(count), '-W', '1', c2!.address], { reject: false, timeout: (seconds + 10) * 1000 });
  await new Promise((r) => setTimeout(r, 300));
  await fault();
  const r = await p;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`no ping summary: ${r.stdout} ${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

describe('underlay faults on a 2-server mesh', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 2);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('underlay down for 1 s and up again: devices keep their ifindex, traffic resumes', async () => {
    const s1 = lab.servers[0]!;
    const before = (await vxlanLinks(s1.ns)).map((l) => l.ifindex);
    const r = await pingThrough(lab, 4, async () => {
      await ns(s1.ns, 'ip', 'link', 'set', 'eth0', 'down');
      await new Promise((res) => setTimeout(res, 1000));
      await ns(s1.ns, 'ip', 'link', 'set', 'eth0', 'up');
    });
    expect((await vxlanLinks(s1.ns)).map((l) => l.ifindex)).toEqual(before);
    console.info(`underlay down 1 s: ${r.sent - r.received} of ${r.sent} pings (20 ms apart) lost`);
    // Lost: roughly the second the underlay was down, nothing more.
    expect(r.sent - r.received).toBeLessThan(100);
    expect(r.received).toBeGreaterThan(r.sent / 2);
    expect(await ping(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
  });

  it('underlay deleted (the kernel removes the VXLAN devices) and re-created: status says so, the mesh heals', async () => {
    const s1 = lab.servers[0]!;
    const r = await pingThrough(lab, 5, async () => {
      await ns(s1.ns, 'ip', 'link', 'del', 'eth0');
      await waitFor('status reports the underlay gone', async () => JSON.stringify((await statusJson(s1)).reasons).includes('waiting for the underlay address'), 5000);
      expect(await vxlanLinks(s1.ns)).toEqual([]);
      await run('ip', ['link', 'add', 'eth0', 'netns', s1.ns, 'type', 'veth', 'peer', 'name', 's1b', 'netns', lab.underlay]);
      await ns(lab.underlay, 'ip', 'link', 'set', 's1b', 'master', 'ulbr', 'up');
      await ns(s1.ns, 'ip', 'link', 'set', 'eth0', 'up');
      await ns(s1.ns, 'ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'eth0');
    });
    await waitForConverged(s1, 1, 5000);
    console.info(`underlay deleted and re-created: ${r.sent - r.received} of ${r.sent} pings (20 ms apart) lost`);
    expect(r.received).toBeGreaterThan(0);
    await waitFor('traffic flows again', async () => ping(lab.containers[0]!, lab.containers[1]!.address), 5000);
    await waitFor('state running', async () => (await statusJson(s1)).state === 'running', 5000);
  });

  it('local address changed (DHCP): links follow the new address, status names the peers still pointing at the old one', async () => {
    const [s1, s2] = lab.servers as [Server, Server];
    lab.writeConfig(s1, 'node: srv1\n', 'peers.d/10-node.yaml');
    await new Promise((r) => setTimeout(r, 300));
    await ns(s1.ns, 'sysctl', '-qw', 'net.ipv4.conf.eth0.promote_secondaries=1');
    await ns(s1.ns, 'ip', 'addr', 'add', '198.18.0.11/24', 'dev', 'eth0');
    await ns(s1.ns, 'ip', 'addr', 'del', '198.18.0.1/24', 'dev', 'eth0');
    await waitFor('s1 links use the new address', async () => (await vxlanLinks(s1.ns)).every((l) => l.linkinfo?.info_data?.local === '198.18.0.11'), 5000);
    const st = await statusJson(s1);
    expect(st.state).toBe('degraded');
    expect(st.underlay.problem).toMatch(/local address changed: the config gives srv1 198\.18\.0\.1 but eth0 now has 198\.18\.0\.11; .*peers still point at 198\.18\.0\.1: srv2/);
    // Once the peers file says so everywhere, traffic flows over the new address.
    const moved = [{ index: 1, address: '198.18.0.11' }, s2];
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(moved));
    await waitFor('traffic over the new address', async () => ping(lab.containers[0]!, lab.containers[1]!.address), 5000);
    await waitFor('s1 running', async () => (await statusJson(s1)).state === 'running', 5000);
  });

  it('underlay MTU below mesh MTU + 50 shows degraded with the numbers, and clears', async () => {
    const s1 = lab.servers[0]!;
    await ns(s1.ns, 'ip', 'link', 'set', 'eth0', 'mtu', '1480');
    await waitFor('MTU problem in status', async () => {
      const st = await statusJson(s1);
      return st.state === 'degraded' && /MTU 1480 is below mesh MTU 1450 \+ 50 = 1500/.test(st.underlay.problem ?? '');
    }, 5000);
    await ns(s1.ns, 'ip', 'link', 'set', 'eth0', 'mtu', '1500');
    await waitFor('state running', async () => (await statusJson(s1)).state === 'running', 5000);
  });
});
