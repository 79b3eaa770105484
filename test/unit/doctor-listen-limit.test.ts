import { describe, expect, it } from 'vitest';
import { frrVerdicts } from '../../src/cli/doctor-frr.js';
import { listenLimitVerdict } from '../../src/cli/doctor-listen-limit.js';
import { parseFrrRead } from '../../src/kernel/frr-observe.js';

/**
 * `vtysh -c 'show daemons' -c 'show running-config'` as captured from FRR 8.4.4 (Debian 12) with
 * etc/frr/route-reflector.conf applied (lab addresses), and again after `no bgp listen limit 5000`;
 * other limits are the same text with another number.
 */
function reflector(limitLine: string | undefined): string {
  return ` zebra bgpd
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname vm
no ip forwarding
no ipv6 forwarding
!
router bgp 65000
 bgp router-id 198.18.0.100
 bgp cluster-id 198.18.0.100
 neighbor vteps peer-group
 neighbor vteps remote-as 65000
${limitLine ? ` ${limitLine}\n` : ''} bgp listen range 198.18.0.0/24 peer-group vteps
 !
 address-family l2vpn evpn
  neighbor vteps activate
  neighbor vteps route-reflector-client
 exit-address-family
exit
!
end
`;
}

/** A vxmesh server's FRR: no listen range, so it reflects nothing. */
const SERVER = ` zebra bgpd
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
!
router bgp 65000
 bgp router-id 198.18.0.1
 neighbor vxmesh peer-group
 neighbor vxmesh remote-as 65000
 neighbor 198.18.0.100 peer-group vxmesh
 !
 address-family l2vpn evpn
  neighbor vxmesh activate
  advertise-all-vni
 exit-address-family
exit
!
end
`;

const verdict = (out: string) => listenLimitVerdict(parseFrrRead(out).running);

describe('doctor: bgp listen limit on a reflector', () => {
  it('is quiet on a host without a listen range, and ok with the sample\'s limit', () => {
    expect(verdict(SERVER)).toBeUndefined();
    expect(verdict(reflector('bgp listen limit 5000'))).toEqual({ name: 'frr listen limit', severity: 'ok', message: 'a reflector (bgp listen range); router bgp 65000: bgp listen limit 5000' });
  });

  it('warns without a limit (FRR\'s default of 100) and at 100 or less, with the fix line', () => {
    const none = verdict(reflector(undefined))!;
    expect(none.severity).toBe('warning');
    expect(none.message).toContain("router bgp 65000: no bgp listen limit (FRR's default, 100)");
    expect(none.fix).toBe("vtysh -c 'configure terminal' -c 'router bgp 65000' -c 'bgp listen limit 5000' (and the same line in frr.conf): raise it past the fleet size");
    expect(verdict(reflector('bgp listen limit 100'))!.severity).toBe('warning');
    expect(verdict(reflector('bgp listen limit 40'))!.message).toContain('bgp listen limit 40');
    expect(verdict(reflector('bgp listen limit 101'))!.severity).toBe('ok');
  });

  it('is one of the FRR checks doctor prints, after the daemons answer', () => {
    const checks = frrVerdicts({ version: 'zebra version 8.4.4', daemonsFile: 'bgpd=yes\n', daemonsPath: '/etc/frr/daemons', state: parseFrrRead(reflector(undefined)) });
    expect(checks.map((c) => `${c.severity} ${c.name}`)).toEqual(['ok frr', 'ok frr daemons', 'ok frr running', 'warning frr listen limit']);
    expect(frrVerdicts({ version: 'zebra version 8.4.4', daemonsFile: 'bgpd=yes\n', daemonsPath: '/etc/frr/daemons', state: parseFrrRead(SERVER) }).map((c) => c.name)).toEqual(['frr', 'frr daemons', 'frr running']);
  });
});
