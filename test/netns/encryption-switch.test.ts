import { execa } from 'execa';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, Lab, ns, ping, run, statusJson, vxlanLinks, waitFor, waitForConverged, type Container } from '../helpers/lab.js';
import { buildEncryptedMesh, encryptedLab, encryptedMesh, encryptionStatus, packets, requireTools, TUNNEL_RANGE, UnderlayCapture, waitForEncrypted, type EncryptedLab } from '../helpers/encryption.js';

/** A ping train: sent and answered, at `intervalS`. */
async function pingTrain(from: Container, to: string, count: number, intervalS: number): Promise<{ sent: number; received: number }> {
  const r = await execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', to], { reject: false, timeout: 120_000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`no ping summary: ${r.stdout} ${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

/** Pings until one is answered, for at most `ms`. */
async function pingsWithin(a: Container, to: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  do {
    if (await ping(a, to)) return true;
  } while (Date.now() < end);
  return false;
}

const INTERVAL_S = 0.1;
const TRAIN = 150;

describe('live switch of a running 3-server mesh: none -> wireguard -> none', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  beforeAll(async () => {
    await requireTools();
    await lab.init();
    for (let i = 1; i <= 3; i++) await lab.addServer(i, { mtu: 1560 });
    // Keys first (the Ansible role collects them), published in the clear mesh's peers file.
    enc = await encryptedLab(lab);
    enc.writeAll({ wireguard: { tunnel_range: TUNNEL_RANGE } });
    for (const s of lab.servers) lab.startDaemon(s);
    for (const s of lab.servers) await waitForConverged(s, 2);
    for (const s of lab.servers) await lab.addContainer(s, s.index);
    for (const c of lab.containers.slice(1)) expect(await ping(lab.containers[0]!, c.address)).toBe(true);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  /** Ping trains 1->2 and 2->3 across a config change on every server; the outage as lost pings x interval. */
  async function acrossSwitch(write: () => void, settled: () => Promise<void>): Promise<{ lost: number[]; outageMs: number }> {
    const [c1, c2, c3] = lab.containers as [Container, Container, Container];
    const trains = [pingTrain(c1, c2.address, TRAIN, INTERVAL_S), pingTrain(c2, c3.address, TRAIN, INTERVAL_S)];
    await new Promise((r) => setTimeout(r, 2000));
    write();
    await settled();
    const results = await Promise.all(trains);
    const lost = results.map((r) => r.sent - r.received);
    return { lost, outageMs: Math.max(...lost) * INTERVAL_S * 1000 };
  }

  it('none -> wireguard: a bounded outage, and once a server speaks WireGuard it sends no clear VXLAN', async () => {
    const capture = new UnderlayCapture(lab, 'switch-on');
    await capture.start();
    let r;
    try {
      r = await acrossSwitch(() => enc.writeAll(encryptedMesh()), async () => {
        for (const s of lab.servers) await waitForEncrypted(s, 2);
      });
    } finally {
      await capture.stop();
    }
    console.info(`switch none -> wireguard: pings lost ${r.lost.join(' and ')} of ${TRAIN} at ${INTERVAL_S * 1000} ms: outage about ${r.outageMs} ms`);
    expect(r.outageMs).toBeLessThan(10_000);
    const wire = await packets(capture, 'udp port 4789 or udp port 51820');
    for (const s of lab.servers) {
      const firstWg = wire.find((p) => p.src === s.address && p.dport === 51820)?.t;
      expect(firstWg, `${s.address} never sent WireGuard`).toBeDefined();
      const clearAfter = wire.filter((p) => p.src === s.address && p.dport === 4789 && p.t > firstWg!);
      expect(clearAfter, `${s.address}: clear VXLAN after its first WireGuard packet`).toEqual([]);
    }
    const clearBefore = wire.filter((p) => p.dport === 4789).length;
    console.info(`switch none -> wireguard: ${clearBefore} clear VXLAN packets in the capture, all before their sender's first WireGuard packet`);
    for (const s of lab.servers) expect((await statusJson(s)).state).toBe('running');
  });

  it('wireguard -> none: a bounded outage; the WireGuard interfaces go and the links ride the underlay again', async () => {
    const capture = new UnderlayCapture(lab, 'switch-off');
    await capture.start();
    let r;
    try {
      r = await acrossSwitch(() => enc.writeAll({ wireguard: { tunnel_range: TUNNEL_RANGE } }), async () => {
        for (const s of lab.servers) {
          await waitFor(`${s.ns} back on the underlay`, async () => {
            const v = await vxlanLinks(s.ns);
            return v.filter((l) => l.flags.includes('UP') && (l.linkinfo?.info_data as Record<string, unknown>)?.remote?.toString().startsWith('198.18.')).length === 2;
          }, 20_000, 100);
        }
      });
    } finally {
      await capture.stop();
    }
    console.info(`switch wireguard -> none: pings lost ${r.lost.join(' and ')} of ${TRAIN} at ${INTERVAL_S * 1000} ms: outage about ${r.outageMs} ms`);
    expect(r.outageMs).toBeLessThan(10_000);
    for (const s of lab.servers) {
      await waitFor(`${s.ns}: no WireGuard interface`, async () => (await statusJson(s)).encryption.present === false || 'still there', 10_000, 100);
      const st = await statusJson(s);
      expect(st.encryption.mode).toBe('none');
    }
    // How much clear VXLAN went to peers that had not switched yet (they drop and count it): measured, see docs/encryption.md.
    const wire = await packets(capture, 'udp port 4789 or udp port 51820');
    const lastWg = new Map(lab.servers.map((s) => [s.address, Math.max(0, ...wire.filter((p) => p.src === s.address && p.dport === 51820).map((p) => p.t))]));
    const early = wire.filter((p) => p.dport === 4789 && p.t < (lastWg.get(p.dst) ?? 0)).length;
    console.info(`switch wireguard -> none: ${early} clear VXLAN packets went to a peer before its last WireGuard packet`);
  });
});

describe('key rotation on a running encrypted mesh: srv3 makes a new key, the file is published', () => {
  const lab = new Lab();
  let enc: EncryptedLab;
  beforeAll(async () => {
    enc = await buildEncryptedMesh(lab, 3);
    for (const c of lab.containers.slice(1)) expect(await ping(lab.containers[0]!, c.address, ['-c', '3', '-i', '0.2'])).toBe(true); // the first echo may wait for a handshake
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('only the links of srv3 pause, for a measured gap; link 1-2 loses nothing; status names no stale key after', async () => {
    const s3 = lab.servers[2]!;
    const [c1, c2, c3] = lab.containers as [Container, Container, Container];
    const old = enc.keys.get(3)!;
    // 1. A new key on srv3 (the old one kept aside); the daemon still runs the old one.
    renameSync(join(s3.stateDir, 'wireguard.key'), join(s3.stateDir, 'wireguard.key.old'));
    const fresh = (await run(process.execPath, [CLI, 'keygen', '--state-dir', s3.stateDir])).trim();
    expect(fresh).not.toBe(old);
    enc.keys.set(3, fresh);
    // A reconcile that is not about the config (a kernel event: a port taken down by hand) does
    // not take the new key up: it waits for the peers file that publishes it.
    await ns(s3.ns, 'ip', 'link', 'set', 'dev', 'vxlan1', 'down');
    await waitFor('srv3 to bring vxlan1 up again', async () => (await ns(s3.ns, 'ip', '-j', 'link', 'show', 'dev', 'vxlan1')).includes('"UP"') || 'down', 10_000, 100);
    expect((await ns(s3.ns, 'wg', 'show', enc.device(s3), 'public-key')).trim()).toBe(old);
    expect(await pingsWithin(c1, c3.address, 8000)).toBe(true);
    const trains = [pingTrain(c1, c2.address, TRAIN, INTERVAL_S), pingTrain(c1, c3.address, TRAIN, INTERVAL_S)];
    await new Promise((r) => setTimeout(r, 2000));
    // 2. Publish it: every server's peers file at once (an Ansible run).
    enc.writeAll(encryptedMesh());
    await waitFor('srv1 to hold srv3\'s new key', async () => (await ns(lab.servers[0]!.ns, 'wg', 'show', enc.device(lab.servers[0]!), 'peers')).includes(fresh), 15_000, 100);
    const [other, rotated] = await Promise.all(trains);
    console.info(`rotation of srv3's key: link 1-2 lost ${other!.sent - other!.received} of ${other!.sent}; link 1-3 lost ${rotated!.sent - rotated!.received} pings at ${INTERVAL_S * 1000} ms (gap about ${(rotated!.sent - rotated!.received) * INTERVAL_S * 1000} ms)`);
    expect(other!.received).toBe(other!.sent);
    expect((rotated!.sent - rotated!.received) * INTERVAL_S * 1000).toBeLessThan(10_000);
    expect(await ping(c1, c3.address)).toBe(true);
    expect((await encryptionStatus(s3)).publicKey).toBe(fresh);
    expect((await ns(s3.ns, 'wg', 'show', enc.device(s3), 'public-key')).trim()).toBe(fresh);
    for (const s of lab.servers) {
      const st = await waitFor(`${s.ns} running`, async () => (await statusJson(s)).state === 'running' || JSON.stringify((await statusJson(s)).reasons), 15_000, 200);
      expect(st).toBeGreaterThanOrEqual(0);
    }
  });
});
