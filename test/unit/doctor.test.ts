import { describe, expect, it } from 'vitest';
import { bridgeRaVerdict, failedBatchLine, foreignVxlanVerdict, kernelVerdict, linkLocalRouteVerdict, mtuVerdict, portVerdict, renderCheck, summarize, udpPortUsers } from '../../src/cli/doctor-checks.js';

const PROC_NET_UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
15395: 00000000:12B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 258705 2 000000005288405b 0
15396: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234 2 000000005288405b 0
`;

describe('doctor verdicts', () => {
  it('counts the sockets on a UDP port from /proc/net/udp', () => {
    expect(udpPortUsers(PROC_NET_UDP, 4789)).toBe(1);
    expect(udpPortUsers(PROC_NET_UDP, 53)).toBe(1);
    expect(udpPortUsers(PROC_NET_UDP, 8472)).toBe(0);
  });

  it('a port held without VXLAN devices is a program: a problem with the fix', () => {
    expect(portVerdict(4789, 0, { owned: 0, foreign: 0 }).severity).toBe('ok');
    const taken = portVerdict(4789, 1, { owned: 0, foreign: 0 });
    expect(taken.severity).toBe('problem');
    expect(taken.fix).toContain("ss -ulpn 'sport = :4789'");
    expect(portVerdict(4789, 1, { owned: 2, foreign: 0 }).severity).toBe('ok');
    expect(portVerdict(4789, 1, { owned: 2, foreign: 1 }).severity).toBe('warning');
  });

  it('underlay MTU must carry mesh MTU + 50 (IPv4) / + 70 (IPv6)', () => {
    expect(mtuVerdict('eth0', 1500, 1450, 4).severity).toBe('ok');
    const v4 = mtuVerdict('eth0', 1499, 1450, 4);
    expect(v4.severity).toBe('problem');
    expect(v4.message).toContain('= 1500');
    expect(v4.fix).toContain('ip link set dev eth0 mtu 1500');
    expect(v4.fix).toContain('mesh.mtu to 1449');
    expect(mtuVerdict('eth0', 1500, 1450, 6).fix).toContain('mtu 1520');
  });

  it('names the missing kernel feature from the failed batch line', () => {
    expect(failedBatchLine('Error: Unknown device type.\nCommand failed -:2\n')).toBe(2);
    expect(failedBatchLine('unshare: unshare failed: Operation not permitted')).toBeUndefined();
    expect(kernelVerdict(undefined, '', false).severity).toBe('ok');
    const vx = kernelVerdict(2, 'Error: Unknown device type.', false);
    expect(vx).toMatchObject({ severity: 'problem' });
    expect(vx.fix).toContain('modprobe vxlan');
    expect(kernelVerdict(4, 'Error: unknown', false).severity).toBe('warning');
    expect(kernelVerdict(4, 'Error: unknown', true).severity).toBe('problem');
  });

  it('renders one line per check and a summary', () => {
    expect(renderCheck({ name: 'nft', severity: 'problem', message: 'nft missing', fix: 'install nftables' })).toBe('problem  nft: nft missing; fix: install nftables');
    expect(renderCheck({ name: 'nft', severity: 'ok', message: 'works' })).toBe('ok       nft: works');
    expect(summarize([{ name: 'a', severity: 'ok', message: '' }, { name: 'b', severity: 'problem', message: '' }])).toBe('1 problem, 0 warnings, 1 ok');
  });
});

describe('doctor: other VXLAN users and the bridge', () => {
  it('names a foreign VXLAN device on the port: a VNI clash is a problem, one on our address a warning, one elsewhere ok', () => {
    const vnis = new Set([100001]);
    expect(foreignVxlanVerdict(4789, '198.18.0.1', vnis, [], true)).toBeUndefined();
    expect(foreignVxlanVerdict(4789, '198.18.0.1', vnis, [{ name: 'vx-swarm', vni: 100001, local: '198.18.0.9' }], true)).toMatchObject({ severity: 'problem', message: expect.stringMatching(/^vx-swarm \(VNI 100001\) uses udp 4789 with a VNI of the mesh/) });
    expect(foreignVxlanVerdict(4789, '198.18.0.1', vnis, [{ name: 'flannel.1', vni: 1, local: undefined }], true)).toMatchObject({ severity: 'warning', message: expect.stringContaining('flannel.1 (VNI 1, local any) shares udp 4789 on vxmesh\'s address 198.18.0.1') });
    expect(foreignVxlanVerdict(4789, '198.18.0.1', vnis, [{ name: 'flannel.1', vni: 1, local: undefined }], false)?.severity).toBe('ok');
    expect(foreignVxlanVerdict(4789, '198.18.0.1', vnis, [{ name: 'vxf', vni: 7, local: '198.18.0.101' }], true)).toMatchObject({ severity: 'ok', message: expect.stringContaining('vxf (VNI 7, local 198.18.0.101)') });
  });

  it('warns when the bridge takes router advertisements or autoconfigures', () => {
    expect(bridgeRaVerdict('vxbr0', undefined, undefined)).toBeUndefined();
    expect(bridgeRaVerdict('vxbr0', '0\n', '0\n')?.severity).toBe('ok');
    expect(bridgeRaVerdict('vxbr0', '1\n', '1\n')).toMatchObject({ severity: 'warning', message: expect.stringContaining('vxbr0 has accept_ra=1, autoconf=1'), fix: expect.stringContaining('net.ipv6.conf.vxbr0.accept_ra=0') });
  });

  it('warns about a route via the bridge that covers 169.254.0.0/16, and only that', () => {
    expect(linkLocalRouteVerdict('vxbr0', [{ dst: '169.254.0.0/16', dev: 'eth0' }, { dst: '100.64.0.0/24', dev: 'vxbr0' }, { dst: 'default', dev: 'vxbr0' }, { dst: '169.254.1.0/24', dev: 'vxbr0' }])).toBeUndefined();
    expect(linkLocalRouteVerdict('vxbr0', [{ dst: '169.254.0.0/16', dev: 'vxbr0' }])).toMatchObject({ severity: 'warning', message: expect.stringContaining('169.254.0.0/16 via vxbr0') });
    expect(linkLocalRouteVerdict('vxbr0', [{ dst: '160.0.0.0/4', dev: 'vxbr0' }])?.severity).toBe('warning');
  });
});
