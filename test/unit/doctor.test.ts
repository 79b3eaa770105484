import { describe, expect, it } from 'vitest';
import { failedBatchLine, kernelVerdict, mtuVerdict, portVerdict, renderCheck, summarize, udpPortUsers } from '../../src/cli/doctor-checks.js';

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
