import { execa } from 'execa';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, LAB_EBTABLES, Lab, ns, peersYaml, waitForConverged, type Server } from '../helpers/lab.js';
import { findInPath } from '../../src/kernel/ebtables-backend.js';
import type { DoctorCheck } from '../../src/cli/doctor-checks.js';

interface DoctorRun {
  code: number | undefined;
  text: string;
  checks: DoctorCheck[];
}

/** `vxmesh doctor` in a server's namespace, as text and as --json (both runs must agree on the exit code). */
async function doctor(s: Server, opts: { path?: string; extra?: string[] } = {}): Promise<DoctorRun> {
  const args = ['netns', 'exec', s.ns, process.execPath, CLI, 'doctor', '--config', s.configDir, '--state-dir', s.stateDir, ...(opts.extra ?? [])];
  const env = opts.path ? { PATH: opts.path } : {};
  const text = await execa('ip', args, { reject: false, env, timeout: 60_000 });
  const json = await execa('ip', [...args, '--json'], { reject: false, env, timeout: 60_000 });
  expect(json.exitCode, String(json.stderr)).toBe(text.exitCode);
  return { code: text.exitCode, text: String(text.stdout) + String(text.stderr), checks: (JSON.parse(String(json.stdout)) as { checks: DoctorCheck[] }).checks };
}

function check(r: DoctorRun, name: string): DoctorCheck {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check "${name}" in: ${r.text}`);
  return c;
}

/** Everything doctor could change in a namespace: links, addresses, nft ruleset, ebtables. */
async function snapshot(s: Server): Promise<string> {
  return [await ns(s.ns, 'ip', '-d', 'addr', 'show'), await ns(s.ns, 'nft', 'list', 'ruleset'), await ns(s.ns, LAB_EBTABLES.save, '-t', 'filter')].join('\n').replace(/^# .*$/gm, '').replace(/ tentative/g, ''); // IPv6 DAD finishing is not doctor's doing
}

describe('vxmesh doctor in lab namespaces', () => {
  const lab = new Lab();
  let s1: Server, s2: Server, s3: Server;
  beforeAll(async () => {
    await lab.init();
    s1 = await lab.addServer(1);
    s2 = await lab.addServer(2, { mtu: 1400 });
    s3 = await lab.addServer(3, { withAddress: false });
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers));
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  it('a healthy host: every check ok, exit 0, and nothing in the namespace changed', async () => {
    const before = await snapshot(s1);
    const r = await doctor(s1);
    console.info(r.text);
    expect(r.code, r.text).toBe(0);
    expect(r.checks.map((c) => c.name)).toEqual(['config', 'kernel', 'ebtables', 'nft', 'underlay', 'underlay mtu', 'udp port', 'api token']);
    for (const c of r.checks) expect(c.severity, `${c.name}: ${c.message}`).toBe('ok');
    expect(r.text).toMatch(/^ok +kernel: vxlan, bridge and bridge port isolation work/m);
    expect(r.text).toMatch(/^ok +ebtables: backend nft \(ebtables-nft\)/m);
    expect(r.text).toMatch(/^ok +underlay mtu: eth0 MTU 1500 >= mesh MTU 1450 \+ 50$/m);
    expect(r.text).toMatch(/^0 problems, 0 warnings, 8 ok$/m);
    expect(await snapshot(s1)).toBe(before);
  });

  it('finds an underlay MTU too small for mesh MTU + 50, with the fix', async () => {
    const r = await doctor(s2);
    expect(r.code).toBe(1);
    expect(check(r, 'underlay mtu')).toMatchObject({ severity: 'problem', message: expect.stringContaining('eth0 MTU 1400 is below mesh MTU 1450 + 50 (IPv4 VXLAN overhead) = 1500') });
    expect(check(r, 'underlay mtu').fix).toContain('ip link set dev eth0 mtu 1500');
    expect(check(r, 'underlay mtu').fix).toContain('mesh.mtu to 1350');
    expect(r.text).toMatch(/^problem +underlay mtu: .*; fix: raise the underlay MTU to 1500/m);
  });

  it('finds a missing underlay (no address, or a dev: that does not exist), with the fix', async () => {
    const r = await doctor(s3, { extra: ['--node', 'srv3'] });
    expect(r.code).toBe(1);
    expect(check(r, 'underlay')).toMatchObject({ severity: 'problem', message: 'waiting for the underlay address 198.18.0.3 of srv3 to appear on a local interface' });
    expect(check(r, 'underlay').fix).toContain('assign 198.18.0.3 to the underlay interface');

    const named = await doctor(s3);
    expect(check(named, 'underlay').severity).toBe('problem');
    expect(check(named, 'underlay').fix).toContain('node: in a peers.d drop-in');

    // s1's own entry names an underlay device the host does not have.
    lab.writeConfig(s1, peersYaml(lab.servers).replace('{ name: srv1, id: 1, address: "198.18.0.1" }', '{ name: srv1, id: 1, address: "198.18.0.1", dev: eth9 }'));
    try {
      const dev = await doctor(s1);
      expect(dev.code).toBe(1);
      expect(check(dev, 'underlay')).toMatchObject({ severity: 'problem', message: 'underlay device eth9 (dev: of srv1) does not exist' });
      expect(check(dev, 'underlay').fix).toContain('198.18.0.1 is on eth0');
    } finally {
      lab.writeConfig(s1, peersYaml(lab.servers));
    }
  });

  it('finds legacy-only ebtables (PATH with no ebtables-nft), and warns about a legacy plain name', async () => {
    const dir = join(lab.dir, 'legacy-only');
    mkdirSync(dir);
    const links: Record<string, string> = { ip: 'ip', bridge: 'bridge', nft: 'nft', unshare: 'unshare', ebtables: 'ebtables-legacy', 'ebtables-save': 'ebtables-legacy-save', 'ebtables-restore': 'ebtables-legacy-restore', 'ebtables-legacy': 'ebtables-legacy', 'ebtables-legacy-save': 'ebtables-legacy-save', 'ebtables-legacy-restore': 'ebtables-legacy-restore' };
    for (const [as, target] of Object.entries(links)) symlinkSync(findInPath(target)!, join(dir, as));
    const only = await doctor(s1, { path: `${dir}:/usr/bin:/bin` });
    expect(only.code).toBe(1);
    const eb = check(only, 'ebtables');
    expect(eb.severity).toBe('problem');
    expect(eb.message).toContain("ebtables-legacy: The kernel doesn't support the ebtables 'filter' table.");
    expect(eb.fix).toContain('apt-get install iptables');
    expect(eb.fix).toContain('loop_prevention: isolated');
    expect(only.text).toMatch(/^problem +ebtables: no working ebtables .*; fix: install the package that provides ebtables-nft/m);

    // Legacy first in PATH, nf_tables still installed: vxmesh is fine, the plain name is not.
    const first = join(lab.dir, 'legacy-first');
    mkdirSync(first);
    for (const as of ['ebtables', 'ebtables-save', 'ebtables-restore']) symlinkSync(findInPath(links[as]!)!, join(first, as));
    const lf = await doctor(s1, { path: `${first}:${process.env.PATH}` });
    expect(lf.code, lf.text).toBe(0);
    expect(check(lf, 'ebtables').severity).toBe('ok');
    expect(check(lf, 'ebtables (plain name)')).toMatchObject({ severity: 'warning', fix: expect.stringContaining('update-alternatives --set ebtables') });
  });

  it('names another VXLAN device on the mesh port and address', async () => {
    // Docker swarm or a hand-made VTEP on udp 4789 with no local address: the ingress filter
    // (which guards vxmesh's address) would drop its packets from hosts that are not peers.
    await ns(s1.ns, 'ip', 'link', 'add', 'vxf', 'type', 'vxlan', 'id', '7777', 'dstport', '4789', 'dev', 'eth0');
    try {
      const r = await doctor(s1);
      expect(check(r, 'vxlan port conflict')).toMatchObject({ severity: 'warning', message: "vxf (VNI 7777, local any) shares udp 4789 on vxmesh's address 198.18.0.1: the ingress filter drops its packets from hosts that are not peers" });
      expect(check(r, 'vxlan port conflict').fix).toContain('give it its own local address');
    } finally {
      await ns(s1.ns, 'ip', 'link', 'del', 'vxf');
    }
  });

  it('finds the UDP port taken by a program, and tells it apart from vxmesh\'s own devices', async () => {
    const holder = execa('ip', ['netns', 'exec', s1.ns, process.execPath, '-e', "const s = require('dgram').createSocket('udp4'); s.bind(4789, () => console.log('bound')); setTimeout(() => process.exit(0), 60000);"], { reject: false });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout?.on('data', (d: Buffer) => d.toString().includes('bound') && resolve());
        void holder.then((r) => reject(new Error(`port holder exited: ${String(r.stderr)}`)));
      });
      const r = await doctor(s1);
      expect(r.code).toBe(1);
      expect(check(r, 'udp port')).toMatchObject({ severity: 'problem', message: expect.stringContaining('4789 is taken by a program') });
      expect(check(r, 'udp port').fix).toContain("ss -ulpn 'sport = :4789'");
    } finally {
      holder.kill('SIGKILL');
      await holder;
    }
    // With the daemon running, the port is held by the kernel for vxmesh's devices: fine.
    lab.startDaemon(s1);
    await waitForConverged(s1, 2);
    const up = await doctor(s1);
    expect(check(up, 'udp port')).toMatchObject({ severity: 'ok', message: "4789 is held by vxmesh's own VXLAN devices" });
    expect(check(up, 'api token')).toMatchObject({ severity: 'ok', message: expect.stringContaining('mode 600') });
    await lab.stopDaemon(s1);
  });
});
