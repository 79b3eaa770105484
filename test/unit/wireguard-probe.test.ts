import { describe, expect, it } from 'vitest';
import { existingWireguard, probeWireguard } from '../../src/kernel/wireguard-probe.js';
import { StrictRunner } from './helpers/strict-runner.js';

describe('which WireGuard this host has', () => {
  it('the kernel module when ip link add ... type wireguard works (the probe device is deleted)', async () => {
    const r = new StrictRunner().expect('wg --version').expect('ip link add name vxmesh-wgprobe type wireguard').expect('ip link del dev vxmesh-wgprobe');
    expect(await probeWireguard(r)).toEqual({ implementation: 'kernel', problem: undefined });
    expect(r.verify()).toEqual([]);
  });

  it('wireguard-go where the kernel has no module; a probe device left behind is removed and the probe retried', async () => {
    const r = new StrictRunner().expect('wg --version').expect('ip link add name vxmesh-wgprobe type wireguard', { fail: 'Error: Unknown device type.' }).expect('wireguard-go --version');
    expect(await probeWireguard(r)).toEqual({ implementation: 'userspace', problem: undefined });
    expect(r.verify()).toEqual([]);
    const left = new StrictRunner()
      .expect('wg --version')
      .expect('ip link add name vxmesh-wgprobe type wireguard', { fail: 'RTNETLINK answers: File exists' })
      .expect('ip link del dev vxmesh-wgprobe')
      .expect('ip link add name vxmesh-wgprobe type wireguard')
      .expect('ip link del dev vxmesh-wgprobe');
    expect((await probeWireguard(left)).implementation).toBe('kernel');
    expect(left.verify()).toEqual([]);
  });

  it('neither, or no wg: the problem says what to install', async () => {
    const none = new StrictRunner().expect('wg --version').expect('ip link add name vxmesh-wgprobe type wireguard', { fail: 'Error: Unknown device type.' }).expect('wireguard-go --version', { fail: 'wireguard-go: command not found' });
    const r = await probeWireguard(none);
    expect(r.implementation).toBeUndefined();
    expect(r.problem).toMatch(/^no WireGuard on this host: the kernel has none \(.*Unknown device type.*\) and wireguard-go does not run .*apt-get install wireguard-tools wireguard-go/);
    const noWg = await probeWireguard(new StrictRunner().expect('wg --version', { fail: 'wg: command not found' }));
    expect(noWg.problem).toMatch(/^wg does not run .*install wireguard-tools/);
  });
});

describe('the WireGuard an existing interface of vxmesh shows (no probe device on a running host)', () => {
  const show = 'ip -j -d link show dev vxwg0';
  const link = (kind: string, alias = 'vxmesh:wireguard') => JSON.stringify([{ ifname: 'vxwg0', ifalias: alias, linkinfo: { info_kind: kind } }]);

  it('kind wireguard is the module, tun is wireguard-go', async () => {
    const k = new StrictRunner().expect(show, { stdout: link('wireguard') });
    expect(await existingWireguard(k, 'vxwg0')).toEqual({ implementation: 'kernel', problem: undefined });
    const u = new StrictRunner().expect(show, { stdout: link('tun') });
    expect(await existingWireguard(u, 'vxwg0')).toEqual({ implementation: 'userspace', problem: undefined });
    expect([...k.verify(), ...u.verify()]).toEqual([]);
  });

  it('none of vxmesh\'s (absent, foreign, another kind): undefined, so the caller probes', async () => {
    expect(await existingWireguard(new StrictRunner().expect(show, { fail: 'Device "vxwg0" does not exist.' }), 'vxwg0')).toBeUndefined();
    expect(await existingWireguard(new StrictRunner().expect(show, { stdout: link('tun', 'my vpn') }), 'vxwg0')).toBeUndefined();
    expect(await existingWireguard(new StrictRunner().expect(show, { stdout: link('veth') }), 'vxwg0')).toBeUndefined();
  });
});
