import { execa } from 'execa';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, peersYaml, run, type Server } from '../helpers/lab.js';
import { encryptedMesh, keygenAll, peersFile, requireTools, wgDeviceNames } from '../helpers/encryption.js';

/**
 * The packaged unit's sandbox under real systemd: a stock Debian 12 root booted with systemd as
 * PID 1 of its own PID and network namespace (../shared/tools/debian-root), the built .deb
 * installed in it with apt, its network namespace plugged into a lab underlay as server 1 and
 * `systemctl start vxmesh` run there; servers 2 and 3 are ordinary lab namespaces running the
 * daemon directly. The unit-run server must be `running` with every link's health ok: the
 * probes (fe80:: on the bridge), the knock and the `ping` children all pass the sandbox.
 */
// ../shared beside the checkout (as CI lays it); VXMESH_DEBIAN_ROOT names it elsewhere (a worktree).
const DEBIAN_ROOT = resolve(process.env.VXMESH_DEBIAN_ROOT ?? '../shared/tools/debian-root');
const ENV = ['HOME=/root', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'DEBIAN_FRONTEND=noninteractive'];

function findDeb(): string {
  const dir = resolve('build');
  const debs = existsSync(dir) ? readdirSync(dir).filter((f) => /^vxmesh_.+_.+\.deb$/.test(f)) : [];
  if (debs.length !== 1) throw new Error(`expected one build/vxmesh_<version>_<arch>.deb, found ${debs.length}: run npm run package`);
  return join(dir, debs[0]!);
}

describe('the packaged unit under real systemd', () => {
  const lab = new Lab();
  let pid = '';
  let root = '';
  let s2: Server;
  let s3: Server;
  const inRoot = (cmd: string, timeoutMs = 60_000) => run(DEBIAN_ROOT, ['exec', pid, cmd], { timeoutMs });

  afterAll(async () => {
    try {
      await lab.cleanup();
    } finally {
      if (pid) await execa(DEBIAN_ROOT, ['kill', pid], { reject: false });
    }
  });

  /** Server 1's status once it is running with both links' health ok (bounded at 90 s: probe rounds every 10 s). */
  async function healthyInRoot(): Promise<any> {
    let st: any;
    for (let i = 0; i < 45; i++) {
      st = JSON.parse(await inRoot('vxmesh status --json || true'));
      if (st.state === 'running' && st.links.length === 2 && st.links.every((l: any) => l.health?.state === 'ok')) break;
      await sleep(2000);
    }
    const journal = await inRoot('journalctl -u vxmesh --no-pager -n 30 || true');
    expect(st.state, `${JSON.stringify(st.reasons)}\n${journal}`).toBe('running');
    expect(st.links.map((l: any) => l.health?.state), `${JSON.stringify({ probe: st.probe, health: st.links.map((l: any) => l.health) })}\n${journal}`).toEqual(['ok', 'ok']);
    return st;
  }

  it('runs the mesh with every link healthy', async () => {
    // Fails loudly: the tool (and the debootstrap it installs) is what this test is about.
    if (!existsSync(DEBIAN_ROOT)) throw new Error(`${DEBIAN_ROOT} not found: this test needs ../shared/tools/debian-root (or VXMESH_DEBIAN_ROOT)`);
    const deb = findDeb();
    const boot = await run(DEBIAN_ROOT, ['boot', 'bookworm'], { timeoutMs: 600_000 });
    const m = /^(\d+) (\/\S+)$/m.exec(boot);
    if (!m) throw new Error(`debian-root boot printed no "PID ROOTDIR": ${boot}`);
    [, pid, root] = m as unknown as [string, string, string];
    copyFileSync(deb, join(root, 'root/vxmesh.deb'));
    // apt runs in the root's mount namespace but the host's network namespace (the booted
    // root's own has no route to the package registry). Recommends come too (wireguard-go).
    await run('nsenter', ['-t', pid, '-m', '-p', '-r', '-w', '/usr/bin/env', '-i', ...ENV, 'apt-get', 'install', '-y', '-qq', '/root/vxmesh.deb'], { timeoutMs: 600_000 });

    await lab.init();
    await run('ip', ['link', 'add', 'eth0', 'netns', `/proc/${pid}/ns/net`, 'type', 'veth', 'peer', 'name', 's1', 'netns', lab.underlay]);
    await run('ip', ['-n', lab.underlay, 'link', 'set', 's1', 'master', 'ulbr', 'up']);
    await inRoot('ip link set lo up && ip link set eth0 up && ip addr add 198.18.0.1/24 dev eth0');
    s2 = await lab.addServer(2);
    s3 = await lab.addServer(3);
    const peers = [{ index: 1, address: '198.18.0.1' }, s2, s3];
    for (const s of [s2, s3]) {
      lab.writeConfig(s, peersYaml(peers));
      lab.startDaemon(s);
    }
    writeFileSync(join(root, 'etc/vxmesh/peers.yaml'), peersYaml(peers));
    const started = await execa(DEBIAN_ROOT, ['exec', pid, 'systemctl start vxmesh'], { reject: false, timeout: 120_000 });
    if (started.exitCode !== 0) throw new Error(`systemctl start vxmesh failed: ${started.stderr}\n${await inRoot('journalctl -u vxmesh --no-pager -n 40 || true')}`);

    await healthyInRoot();
    // The unit lets the daemon pin the bridge's IPv6 settings (ReadWritePaths= in ProtectKernelTunables=).
    expect((await inRoot('cat /proc/sys/net/ipv6/conf/vxbr0/accept_ra /proc/sys/net/ipv6/conf/vxbr0/autoconf')).split('\n')).toEqual(['0', '0']);
    expect((await inRoot('systemctl is-active vxmesh')).trim()).toBe('active');
  }, 900_000);

  it('switches to encryption under the unit: its wireguard-go runs in the sandbox, every link healthy, and survives systemctl restart', async () => {
    if (!pid) throw new Error('the first test did not boot the root');
    await requireTools();
    // The keys as an operator makes them: root runs keygen for the unit's state directory.
    const k1 = (await inRoot('vxmesh keygen 2>/dev/null')).trim();
    const keys = await keygenAll(lab);
    keys.set(1, k1);
    const device = wgDeviceNames(lab);
    const servers = [{ index: 1, address: '198.18.0.1' } as Server, s2, s3];
    // The underlay here is 1500: WireGuard (60) and VXLAN (50) leave 1390 for the mesh.
    const file = peersFile(servers, encryptedMesh({ mtu: 1390 }), (p) => keys.get(p.index));
    for (const s of [s2, s3]) {
      lab.writeConfig(s, `mesh:\n  wireguard: { device: ${device(s)} }\n`, 'peers.d/local.yaml');
      lab.writeConfig(s, file);
    }
    // Server 1 keeps the default device name: its /run is its own.
    writeFileSync(join(root, 'etc/vxmesh/peers.yaml'), file);
    const st = await healthyInRoot();
    expect(st.encryption, JSON.stringify(st.encryption)).toMatchObject({ mode: 'wireguard', implementation: 'userspace' });
    const dump = await inRoot('wg show vxwg0 latest-handshakes');
    expect(dump.trim().split('\n').filter((l) => Number(l.split('\t')[1]) > 0).length, dump).toBe(2);
    const goBefore = (await inRoot('pidof wireguard-go')).trim();
    // KillMode=process: the restart ends the daemon only; its wireguard-go serves on and is adopted.
    await inRoot('systemctl restart vxmesh', 120_000);
    await healthyInRoot();
    expect((await inRoot('pidof wireguard-go')).trim()).toBe(goBefore);
  }, 300_000);
});
