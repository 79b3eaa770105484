import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMesh, countArpRequests, Lab, ns, ping, readCounter, run, statusJson, waitFor, type Container, type Server } from '../helpers/lab.js';
import { buildEncryptedMesh, encryptedMesh, tunnelOf, UnderlayCapture, waitForEncrypted, type EncryptedLab } from '../helpers/encryption.js';
import { pairVni } from '../../src/model/vni.js';
import { generatePrivateKey, publicKeyOf } from '../../src/model/wireguard.js';

/**
 * Pings until one is answered, for at most `ms`. A fresh link's first packet can wait seconds
 * (seen: over 3 s): WireGuard retries an unanswered handshake after 5 s (REKEY_TIMEOUT). So
 * "carries nothing" is asserted over 8 s, past that retry.
 */
async function pingsOk(a: Container, to: string, ms = 8000): Promise<boolean> {
  const end = Date.now() + ms;
  do {
    if (await ping(a, to)) return true;
  } while (Date.now() < end);
  return false;
}

/** The ids of the wireguard-go processes in a server's namespace. */
async function wireguardGoPids(s: Server): Promise<number[]> {
  const pids = (await execa('ip', ['netns', 'pids', s.ns], { reject: false })).stdout.split(/\s+/).map(Number).filter((p) => p > 0);
  return pids.filter((p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'wireguard-go';
    } catch {
      return false;
    }
  });
}

/** A ping train of `count` at `intervalS`: how many were sent and answered. */
async function pingTrain(from: Container, to: string, count: number, intervalS: number): Promise<{ sent: number; received: number }> {
  const r = await execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to], { reject: false, timeout: 120_000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`no ping summary: ${r.stdout} ${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

describe('encrypted mesh, one wrong public key: srv1 lists a key for srv2 that is not srv2\'s', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  const wrong = publicKeyOf(generatePrivateKey());
  const capture = new UnderlayCapture(lab, 'wrongkey');
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3, { containers: false });
    enc.writeAll(encryptedMesh(), (writer, peer) => (writer.index === 1 && peer.index === 2 ? wrong : enc.keys.get(peer.index)!));
    await waitFor('srv1 to hold the wrong key for srv2', async () => (await ns(lab.servers[0]!.ns, 'wg', 'show', enc.device(lab.servers[0]!), 'peers')).includes(wrong), 15_000, 100);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    await capture.start();
  });
  afterAll(async () => {
    await capture.stop().catch(() => undefined);
    await lab.cleanup();
  });

  it('link 1-2 carries nothing; links 1-3 and 2-3 work', async () => {
    const [c1, c2, c3] = lab.containers as [Container, Container, Container];
    expect(await pingsOk(c1, c3.address)).toBe(true);
    expect(await pingsOk(c2, c3.address)).toBe(true);
    expect(await pingsOk(c1, c2.address)).toBe(false);
    expect(await pingsOk(c2, c1.address)).toBe(false);
  });

  it("status on srv1 names the key and the reason; srv1's other link is fine", async () => {
    const s1 = lab.servers[0]!;
    const st = await waitFor('srv1 to report the dead WireGuard link', async () => {
      const r = await statusJson(s1);
      return (r.reasons as string[]).some((x) => x.startsWith('srv2 over WireGuard: no handshake: key mismatch, or UDP 51820 blocked')) || JSON.stringify(r.reasons);
    }, 30_000, 500).then(() => statusJson(s1));
    expect(st.state).toBe('degraded');
    const l2 = (st.links as Record<string, any>[]).find((l) => l.peer === 'srv2')!;
    expect(l2.wireguard).toMatchObject({ handshake: 'never', publicKey: `${wrong.slice(0, 8)}…`, rxBytes: 0 });
    expect(l2.wireguard.problem).toContain(`public key ${wrong.slice(0, 8)}…`);
    const l3 = (st.links as Record<string, any>[]).find((l) => l.peer === 'srv3')!;
    expect(l3.wireguard).toMatchObject({ handshake: 'ok', problem: null });
  });

  it('and still no clear VXLAN on the underlay', async () => {
    await capture.stop();
    expect(await capture.count('udp port 4789')).toBe(0);
    expect(await capture.count('udp port 51820')).toBeGreaterThan(0);
  });
});

/**
 * An attacker on the underlay sends VXLAN with the real VNI of link 1-2 and srv2's address as
 * its source (it never ARPs: a static neighbour entry for srv1, ARP off, so srv1's view of srv2
 * stays right). Inside: ARP requests for container 1, counted where container 1 receives them.
 */
async function addSpoofer(lab: Lab, s1: Server, source: string, target: string): Promise<string> {
  const atk = await lab.addUnderlayHost(`sp${source.split('.')[3]}${target.split('.')[1]}`, '198.18.0.210');
  const mac = (JSON.parse(await ns(s1.ns, 'ip', '-j', 'link', 'show', 'eth0')) as { address: string }[])[0]!.address;
  await ns(atk, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
  await ns(atk, 'ip', 'link', 'set', 'eth0', 'arp', 'off');
  await ns(atk, 'ip', 'addr', 'add', `${source}/32`, 'dev', 'eth0');
  await ns(atk, 'ip', 'route', 'add', `${target}/32`, 'dev', 'eth0');
  await ns(atk, 'ip', 'neigh', 'replace', target, 'lladdr', mac, 'dev', 'eth0', 'nud', 'permanent');
  await ns(atk, 'ip', 'link', 'add', 'vx', 'type', 'vxlan', 'id', String(pairVni(1, 2, 100000)), 'remote', target, 'local', source, 'dstport', '4789', 'dev', 'eth0');
  await ns(atk, 'ip', 'addr', 'add', '100.64.0.200/24', 'dev', 'vx');
  await ns(atk, 'ip', 'link', 'set', 'vx', 'up');
  return atk;
}

async function injectArps(atk: string, c1: Container): Promise<number> {
  await countArpRequests(c1.ns, c1.address, 'ingress', '100.64.0.200');
  await ns(atk, 'ip', 'neigh', 'flush', 'dev', 'vx');
  await execa('ip', ['netns', 'exec', atk, 'ping', '-c', '3', '-i', '0.2', '-W', '1', c1.address], { reject: false, timeout: 10_000 });
  return readCounter(c1.ns, 'arpcount');
}

describe('spoofed VXLAN with a peer\'s source address', () => {
  describe('encrypted mode: reaches no container, and is counted', () => {
    const lab = new Lab();
    beforeAll(async () => {
      await buildEncryptedMesh(lab, 2);
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    it("to srv1's underlay address, from srv2's", async () => {
      const s1 = lab.servers[0]!;
      const atk = await addSpoofer(lab, s1, '198.18.0.2', '198.18.0.1');
      const before = (await statusJson(s1)).encryption.clearVxlanDropped.input as number;
      expect(await injectArps(atk, lab.containers[0]!)).toBe(0);
      expect((await statusJson(s1)).encryption.clearVxlanDropped.input - before).toBeGreaterThanOrEqual(1);
      expect(await pingsOk(lab.containers[0]!, lab.containers[1]!.address)).toBe(true);
      await lab.removeHost(atk);
    });

    it('the WireGuard port answers only peers: a host that is not one is dropped and counted', async () => {
      const s1 = lab.servers[0]!;
      const other = await lab.addUnderlayHost('wgx', '198.18.0.220');
      const before = (await statusJson(s1)).encryption.wireguardPortDropped as number;
      for (let k = 0; k < 3; k++) await run('ip', ['netns', 'exec', other, 'bash', '-c', 'echo probe > /dev/udp/198.18.0.1/51820']);
      await waitFor('srv1 to count the drops', async () => (await statusJson(s1)).encryption.wireguardPortDropped - before >= 3 || 'not yet', 5000, 200);
      await lab.removeHost(other);
    });

    it("to srv1's tunnel address, from srv2's, arriving on the underlay", async () => {
      const s1 = lab.servers[0]!;
      const atk = await addSpoofer(lab, s1, tunnelOf(2), tunnelOf(1));
      const before = (await statusJson(s1)).encryption.clearVxlanDropped.input as number;
      expect(await injectArps(atk, lab.containers[0]!)).toBe(0);
      expect((await statusJson(s1)).encryption.clearVxlanDropped.input - before).toBeGreaterThanOrEqual(1);
      await lab.removeHost(atk);
    });
  });

  describe('negative control: clear mode with ingress_filter off, the same packets reach container 1', () => {
    const lab = new Lab();
    beforeAll(async () => {
      await buildMesh(lab, 2, { mesh: { ingress_filter: false } });
    });
    afterAll(async () => {
      await lab.cleanup();
    });

    it('arrive', async () => {
      const atk = await addSpoofer(lab, lab.servers[0]!, '198.18.0.2', '198.18.0.1');
      let arrived = 0;
      // Bounded attempts: on a loaded machine one round of ARP can be lost on the way.
      for (let attempt = 0; attempt < 3 && arrived === 0; attempt++) arrived = await injectArps(atk, lab.containers[0]!);
      expect(arrived).toBeGreaterThanOrEqual(1);
    });
  });
});

describe('encrypted mesh under faults: daemon killed, wireguard-go killed, the interface deleted', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3);
    for (const c of lab.containers.slice(1)) expect(await pingsOk(lab.containers[0]!, c.address)).toBe(true);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('kill -9 of the daemon and a restart lose no ping; wireguard-go lives on and is adopted', async () => {
    const s1 = lab.servers[0]!;
    const [c1, c2] = lab.containers as [Container, Container];
    const wgBefore = await wireguardGoPids(s1);
    expect(wgBefore.length).toBe(1);
    const train = pingTrain(c1, c2.address, 120, 0.05);
    await new Promise((r) => setTimeout(r, 1000));
    await lab.stopDaemon(s1, 'SIGKILL');
    const logBefore = lab.log(s1).length;
    lab.startDaemon(s1);
    await s1.waitRunning();
    const { sent, received } = await train;
    console.info(`kill -9 + restart of the daemon in encrypted mode: ${sent} pings at 50 ms, ${sent - received} lost`);
    expect(sent).toBe(120);
    expect(received).toBe(sent);
    expect(await wireguardGoPids(s1)).toEqual(wgBefore);
    // Adopted, not rebuilt: the restarted daemon applied nothing.
    await waitFor('restarted daemon to reconcile', async () => (await statusJson(s1)).lastReconcile !== null, 10_000, 100);
    expect(lab.log(s1).slice(logBefore)).not.toMatch(/"msg":"applied"/);
  });

  it('wireguard-go killed: made again by the daemon, traffic back within a measured bound, and no clear VXLAN meanwhile', async () => {
    const s1 = lab.servers[0]!;
    const [c1, c2] = lab.containers as [Container, Container];
    const capture = new UnderlayCapture(lab, 'wgkill');
    await capture.start();
    try {
      const [pid] = await wireguardGoPids(s1);
      const killedAt = Date.now();
      process.kill(pid!, 'SIGKILL');
      const back = await waitFor('c1 -> c2 again', async () => ping(c1, c2.address), 20_000, 50);
      const total = Date.now() - killedAt;
      console.info(`wireguard-go killed: traffic back after ${total} ms (first answered ping ${back} ms after the kill)`);
      expect(total).toBeLessThan(10_000);
      const now = await wireguardGoPids(s1);
      expect(now.length).toBe(1);
      expect(now[0]).not.toBe(pid);
      await waitForEncrypted(s1, 2);
      // The interface deleted by hand: the same repair.
      const deletedAt = Date.now();
      await ns(s1.ns, 'ip', 'link', 'del', enc.device(s1));
      await waitFor('c1 -> c2 after the interface was deleted', async () => ping(c1, c2.address), 20_000, 50);
      console.info(`WireGuard interface deleted: traffic back after ${Date.now() - deletedAt} ms`);
    } finally {
      await capture.stop();
    }
    expect(await capture.count('udp port 4789')).toBe(0);
    expect(await capture.count('(ip and ip[6:2] & 0x3fff != 0)')).toBe(0);
    // While the interface was gone, the output rule dropped what would have left in clear: counted, or nothing was tried.
    const st = await statusJson(s1);
    expect(st.state, st.reasons.join('; ')).toBe('running');
  });
});
