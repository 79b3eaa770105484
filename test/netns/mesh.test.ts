import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMesh, chainRules, statusJson, forwardRules, Lab, ns, ping, vxlanLinks, type Server } from '../helpers/lab.js';
import { pairVni } from '../../src/model/vni.js';
import { expectAllPairsPing, expectBroadcastOnce } from '../helpers/checks.js';

/** Each server lists the peers in its own order: rotated by its index, reversed on even ones. */
function ownOrder(i: number, list: Server[]): Server[] {
  const rotated = [...list.slice(i % list.length), ...list.slice(0, i % list.length)];
  return i % 2 === 0 ? rotated.reverse() : rotated;
}


for (const n of [3, 5]) {
  describe(`${n}-server mesh, peers listed in a different order on each server`, () => {
    const lab = new Lab();
    beforeAll(async () => {
      await buildMesh(lab, n, { order: ownOrder });
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    it('every container pings every other, also with a DF 1422-byte payload at MTU 1450', async () => {
      await expectAllPairsPing(lab);
    });

    it('has one nolearning device per remote, and both ends of every link agree on the VNI', async () => {
      const vniAt = new Map<string, number>();
      for (const s of lab.servers) {
        const devs = await vxlanLinks(s.ns);
        expect(devs.map((d) => d.ifname).sort()).toEqual(lab.servers.filter((o) => o !== s).map((o) => `vxlan${o.index}`).sort());
        for (const d of devs) {
          expect(d.linkinfo?.info_data?.learning).toBe(false);
          expect(d.mtu).toBe(1450);
          expect(d.ifalias).toMatch(/^vxmesh:srv\d+$/);
          const remote = Number(d.ifname.slice(5));
          vniAt.set(`${s.index}->${remote}`, d.linkinfo!.info_data!.id!);
        }
      }
      for (const a of lab.servers) {
        for (const b of lab.servers) {
          if (a.index >= b.index) continue;
          expect(vniAt.get(`${a.index}->${b.index}`)).toBe(pairVni(a.index, b.index, 100000));
          expect(vniAt.get(`${b.index}->${a.index}`)).toBe(vniAt.get(`${a.index}->${b.index}`));
        }
      }
    });

    it('holds one DROP rule per port behind the gate', async () => {
      for (const s of lab.servers) {
        const rules = await chainRules(s.ns);
        expect(rules[0]).toBe('-o ! vxlan+ -j RETURN');
        const devs = lab.servers.filter((o) => o !== s).map((o) => `vxlan${o.index}`);
        expect(rules.slice(1).sort()).toEqual(devs.map((x) => `-i ${x} -o vxlan+ -j DROP`).sort());
        expect((await forwardRules(s.ns)).filter((r) => r === '-A FORWARD -i vxlan+ -j VXMESH').length).toBe(1);
      }
    });

    it('VXLAN ports have no address of their own, so nothing of theirs goes through the tunnels', async () => {
      for (const s of lab.servers) {
        const ports = JSON.parse(await ns(s.ns, 'ip', '-j', '-d', 'link', 'show', 'type', 'vxlan')) as { ifname: string; inet6_addr_gen_mode?: string }[];
        const addrs = JSON.parse(await ns(s.ns, 'ip', '-j', 'addr', 'show', 'type', 'vxlan')) as { ifname: string; addr_info: unknown[] }[];
        expect(ports.length).toBe(n - 1);
        for (const p of ports) expect({ port: p.ifname, mode: p.inet6_addr_gen_mode, addresses: addrs.find((a) => a.ifname === p.ifname)?.addr_info }).toEqual({ port: p.ifname, mode: 'none', addresses: [] });
      }
    });

    it('a broadcast does not loop: each ARP request arrives once at each other container', async () => {
      const { sent, vxlan: vx } = await expectBroadcastOnce(lab);
      // The request crosses each of the source server's n-1 links once; the rest of the
      // window's VXLAN traffic is background chatter (IPv6 on the servers), in the tens.
      // Without loop prevention this reads in the hundreds of thousands.
      expect(vx).toBeGreaterThanOrEqual(sent * (n - 1));
      expect(vx).toBeLessThan(sent * (n - 1) + 60);
    });
  });
}

describe('IPv6 underlay (3 servers, underlay MTU 1520 = 1450 + 70)', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await buildMesh(lab, 3, { family: 6, underlayMtu: 1520 });
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('carries traffic, full-size DF frames included, with IPv6 remotes and the ingress filter on', async () => {
    for (const a of lab.containers) {
      for (const b of lab.containers) {
        if (a === b) continue;
        expect(await ping(a, b.address, ['-M', 'do', '-s', '1422']), `${a.address} -> ${b.address}`).toBe(true);
      }
    }
    const s1 = lab.servers[0]!;
    const devs = await vxlanLinks(s1.ns);
    expect(devs.map((d) => [d.ifname, (d.linkinfo?.info_data as Record<string, unknown>)?.remote6])).toEqual([
      ['vxlan2', '2001:2::2'],
      ['vxlan3', '2001:2::3'],
    ]);
    const st = await statusJson(s1);
    expect(st.state).toBe('running');
    expect(st.ingressFilter).toMatchObject({ present: true, peers: 2 });
  });
});
