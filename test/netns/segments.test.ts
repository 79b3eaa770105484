import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countArpRequests, Lab, ns, peersYaml, ping, readCounter, statusJson, waitFor, type Container, type Server } from '../helpers/lab.js';

/**
 * Segments (docs/segments.md) on real kernels: 4 servers, 3 segments, every container on the
 * same /24 so that any frame crossing segments would be answered. "all" spans every server,
 * "pair" servers 1-2, "jumbo" every server at MTU 9000 over a 9100 underlay.
 */
const ZERO = '00:00:00:00:00:00';
type Seg = { name: string; vni: number; mtu?: number; peers?: string[] };
const ALL: Seg = { name: 'all', vni: 5001 };
const PAIR: Seg = { name: 'pair', vni: 5002, peers: ['srv1', 'srv2'] };
const JUMBO: Seg = { name: 'jumbo', vni: 5003, mtu: 9000 };
/** Container host numbers: segment k, server i -> 10k + i. */
const HOST: Record<string, number> = { all: 10, pair: 20, jumbo: 30, extra: 40 };

/** Five 802.1Q-tagged broadcast frames (VLAN 7, an IPv4 payload of zeros) sent on eth0. */
const TAGGED_SENDER = [
  'import socket',
  's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)',
  "s.bind(('eth0', 0))",
  "src = open('/sys/class/net/eth0/address').read().strip().replace(':', '')",
  "frame = bytes.fromhex('ffffffffffff' + src + '8100' + '0007' + '0800') + bytes(46)",
  'for _ in range(5): s.send(frame)',
].join('\n');

function segmentsYaml(segs: Seg[]): string {
  return 'segments:\n' + segs.map((s) => `  - { name: ${s.name}, vni: ${s.vni}${s.mtu ? `, mtu: ${s.mtu}` : ''}${s.peers ? `, peers: [${s.peers.join(', ')}]` : ''} }`).join('\n') + '\n';
}

async function floodList(s: Server, dev: string): Promise<string[]> {
  const entries = JSON.parse(await ns(s.ns, 'bridge', '-j', 'fdb', 'show', 'dev', dev)) as { mac: string; dst?: string }[];
  return entries.filter((e) => e.mac === ZERO).map((e) => e.dst ?? '').sort();
}

async function waitRunning(s: Server): Promise<void> {
  await waitFor(`${s.ns} running`, async () => {
    const st = await statusJson(s);
    return st.state === 'running' || `${st.state}: ${(st.reasons as string[]).join('; ')}`;
  }, 20_000, 100);
}

function describeMesh(mode: 'flood-list' | 'multicast'): void {
  const mesh: Record<string, unknown> = mode === 'multicast' ? { mode, group: '239.1.1.1', ttl: 4 } : { mode };
  describe(`segments, ${mode}: 4 servers, 3 segments`, () => {
    const lab = new Lab();
    const containers = new Map<string, Container[]>();
    const write = (segs: Seg[]) => {
      for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, mesh, segmentsYaml(segs)));
    };

    beforeAll(async () => {
      await lab.init();
      for (let i = 1; i <= 4; i++) await lab.addServer(i, { mtu: 9100 });
      write([ALL, PAIR, JUMBO]);
      for (const s of lab.servers) lab.startDaemon(s);
      for (const s of lab.servers) await waitRunning(s);
      for (const seg of [ALL, PAIR, JUMBO]) {
        const list: Container[] = [];
        for (const s of lab.servers) {
          if (seg.peers && !seg.peers.includes(`srv${s.index}`)) continue;
          list.push(await lab.addContainer(s, HOST[seg.name]! + s.index, seg.mtu ?? 1450, `vxbr-${seg.name}`));
        }
        containers.set(seg.name, list);
      }
    }, 120_000);
    afterAll(() => lab.cleanup());

    it('gives each member a bridge and a device per segment, with its VNI and MTU, and nothing on the others', async () => {
      const st = await statusJson(lab.servers[2]!);
      expect(st.segments.map((g: { name: string }) => g.name)).toEqual(['all', 'jumbo']);
      const links = JSON.parse(await ns(lab.servers[0]!.ns, 'ip', '-j', '-d', 'link', 'show')) as { ifname: string; mtu: number; ifalias?: string; linkinfo?: { info_data?: { id?: number } } }[];
      const by = new Map(links.map((l) => [l.ifname, l]));
      for (const seg of [ALL, PAIR, JUMBO]) {
        expect(by.get(`vx-${seg.name}`)?.linkinfo?.info_data?.id).toBe(seg.vni);
        expect(by.get(`vx-${seg.name}`)?.ifalias).toBe(`vxmesh:${seg.name}:${mode}:${mode}`);
        expect(by.get(`vxbr-${seg.name}`)?.ifalias).toBe(`vxmesh:${seg.name}:bridge:bridge`);
        expect(by.get(`vxbr-${seg.name}`)?.mtu).toBe(seg.mtu ?? 1450);
      }
      const three = (JSON.parse(await ns(lab.servers[2]!.ns, 'ip', '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
      expect(three).not.toContain('vx-pair');
      expect(three).not.toContain('vxbr-pair');
      if (mode === 'flood-list') {
        expect(await floodList(lab.servers[0]!, 'vx-pair')).toEqual(['198.18.0.2']);
        expect(await floodList(lab.servers[0]!, 'vx-all')).toEqual(['198.18.0.2', '198.18.0.3', '198.18.0.4']);
      }
    });

    it('every container reaches its own segment and no other, full-size frames included on the jumbo segment', async () => {
      const all = [...containers.values()].flat();
      const segOf = (c: Container) => [...containers].find(([, l]) => l.includes(c))![0];
      const results = await Promise.all(all.flatMap((a) => all.filter((b) => b !== a).map(async (b) => ({ a, b, same: segOf(a) === segOf(b), ok: await ping(a, b.address, ['-c', '3', '-i', '0.2']) }))));
      const wrong = results.filter((r) => r.ok !== r.same).map((r) => `${r.a.address}->${r.b.address} ${r.ok ? 'crossed segments' : 'failed in its segment'}`);
      expect(wrong).toEqual([]);
      expect(results.filter((r) => !r.same).length).toBeGreaterThan(40);
      const [j1, j2] = containers.get('jumbo')!;
      expect(await ping(j1!, j2!.address, ['-M', 'do', '-s', String(9000 - 28)])).toBe(true);
      expect(await ping(j1!, j2!.address, ['-M', 'do', '-s', String(9001 - 28)])).toBe(false);
    });

    it('broadcasts and 802.1Q-tagged frames stay in their segment (counted on every container)', async () => {
      const all = [...containers.values()].flat();
      const sender = containers.get('all')![0]!;
      for (const c of all) await countArpRequests(c.ns, '100.64.0.250');
      // Tagged frames: raw 802.1Q broadcasts (VLAN 7) written to eth0, as a container may send them;
      // each receiver counts them with tcpdump (the tag may be offloaded, which nft would not see).
      const captures = all.filter((c) => c !== sender).map((c) => execa('ip', ['netns', 'exec', c.ns, 'timeout', '-s', 'INT', '5', 'tcpdump', '-i', 'eth0', '-n', '-p', 'vlan 7'], { reject: false, timeout: 15_000 }));
      await new Promise((r) => setTimeout(r, 1000));
      // Unanswered: each ping sends ARP requests (broadcasts) for 3 s.
      await Promise.all([
        execa('ip', ['netns', 'exec', sender.ns, 'ping', '-c', '3', '-i', '1', '-W', '1', '100.64.0.250'], { reject: false, timeout: 10_000 }),
        execa('ip', ['netns', 'exec', sender.ns, 'python3', '-c', TAGGED_SENDER], { timeout: 10_000 }),
      ]);
      const tagged = (await Promise.all(captures)).map((r) => Number(/(\d+) packets? captured/.exec(r.stderr)?.[1] ?? NaN));
      const counts = await Promise.all(all.filter((c) => c !== sender).map(async (c, k) => ({ c: c.address, same: containers.get('all')!.includes(c), arp: await readCounter(c.ns, 'arpcount'), tagged: tagged[k]! })));
      expect(counts.filter((x) => Number.isNaN(x.tagged))).toEqual([]);
      // In its segment every other container saw them: the counters count.
      for (const x of counts.filter((x) => x.same)) expect(x.arp, x.c).toBeGreaterThanOrEqual(2);
      for (const x of counts.filter((x) => x.same)) expect(x.tagged, x.c).toBeGreaterThanOrEqual(2);
      expect(counts.filter((x) => !x.same && (x.arp > 0 || x.tagged > 0))).toEqual([]);
    });

    it('adding a segment and removing one loses no packet in the untouched segments; a member added changes one flood list', async () => {
      const [a1, a2] = containers.get('all')!;
      const [j3, j4] = containers.get('jumbo')!;
      const pingers = [
        execa('ip', ['netns', 'exec', a1!.ns, 'ping', '-i', '0.01', '-c', '400', '-W', '1', a2!.address], { reject: false, timeout: 60_000 }),
        execa('ip', ['netns', 'exec', j3!.ns, 'ping', '-i', '0.01', '-c', '400', '-W', '1', j4!.address], { reject: false, timeout: 60_000 }),
      ];
      await new Promise((r) => setTimeout(r, 500));
      const before = mode === 'flood-list' ? await floodList(lab.servers[0]!, 'vx-all') : [];
      const extra: Seg = { name: 'extra', vni: 5004, peers: ['srv1', 'srv3'] };
      write([ALL, JUMBO, extra]);
      await waitFor('vx-extra on srv1 and srv3, vx-pair gone from srv1', async () => {
        const one = await ns(lab.servers[0]!.ns, 'ip', '-o', 'link', 'show');
        const three = await ns(lab.servers[2]!.ns, 'ip', '-o', 'link', 'show');
        return (/ vx-extra[@:]/.test(one) && / vx-extra[@:]/.test(three) && !/ vx-pair[@:]/.test(one)) || 'not yet';
      }, 15_000, 100);
      for (const p of pingers) {
        const r = await p;
        const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
        expect(m, r.stdout.slice(-200)).not.toBeNull();
        expect(Number(m![2]), `${m![0]}`).toBe(Number(m![1]));
      }
      // The pair bridge keeps its containers' ports: vxmesh deletes its device, not the bridge they are on.
      expect(await ns(lab.servers[0]!.ns, 'ip', '-o', 'link', 'show', 'vxbr-pair')).toMatch(/vxbr-pair/);
      if (mode === 'flood-list') {
        expect(await floodList(lab.servers[0]!, 'vx-all')).toEqual(before);
        expect(await floodList(lab.servers[0]!, 'vx-extra')).toEqual(['198.18.0.3']);
        write([ALL, JUMBO, { ...extra, peers: ['srv1', 'srv3', 'srv2'] }]);
        await waitFor('srv2 in the extra flood list of srv1', async () => (await floodList(lab.servers[0]!, 'vx-extra')).includes('198.18.0.2') || 'not yet', 15_000, 100);
        expect(await floodList(lab.servers[0]!, 'vx-extra')).toEqual(['198.18.0.2', '198.18.0.3']);
        expect(await floodList(lab.servers[2]!, 'vx-extra')).toEqual(['198.18.0.1', '198.18.0.2']);
        expect(await floodList(lab.servers[0]!, 'vx-all')).toEqual(before);
      }
      for (const s of lab.servers) await waitRunning(s);
    });
  });
}

describeMesh('flood-list');
describeMesh('multicast');
