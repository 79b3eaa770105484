import { describe, expect, it } from 'vitest';
import { probeWireguard } from '../../src/kernel/wireguard-probe.js';
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
