/**
 * Pure parts of `vxmesh doctor`: the verdict of each check from what was read. Kept apart
 * from the reads so each verdict and its fix is tested without a host.
 */
import { computeMtuChain, WIREGUARD_OVERHEAD } from '../model/wireguard.js';
import { VXLAN_OVERHEAD, type Config } from '../model/types.js';
import { localAddresses, type LinkInfo } from '../model/state.js';
import { isOwnedAlias } from '../model/names.js';
import { computeDesired, findSelf } from '../plan/desired.js';

export type Severity = 'ok' | 'warning' | 'problem';

export interface DoctorCheck {
  name: string;
  severity: Severity;
  message: string;
  /** What to do, for warnings and problems. */
  fix?: string;
}

/** One line per check: "problem  underlay: ...; fix: ...". */
export function renderCheck(c: DoctorCheck): string {
  return `${c.severity.padEnd(8)} ${c.name}: ${c.message}${c.fix ? `; fix: ${c.fix}` : ''}`;
}

export function summarize(checks: DoctorCheck[]): string {
  const n = (s: Severity) => checks.filter((c) => c.severity === s).length;
  const plural = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  return `${plural(n('problem'), 'problem')}, ${plural(n('warning'), 'warning')}, ${n('ok')} ok`;
}

/** Sockets bound to a local UDP port, from /proc/net/udp or /proc/net/udp6 (this namespace's view). */
export function udpPortUsers(procNetUdp: string, port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count = 0;
  for (const line of procNetUdp.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    if (local?.endsWith(hex)) count++;
  }
  return count;
}

/**
 * The VXLAN port: a socket on it is the kernel's when VXLAN devices with that port are up here
 * (all such devices share one socket per family); otherwise a program holds it, and every
 * VXLAN device on the port fails to come up ("Address already in use").
 */
export function portVerdict(port: number, sockets: number, vxlanUp: { owned: number; foreign: number }): DoctorCheck {
  const name = 'udp port';
  if (sockets === 0) return { name, severity: 'ok', message: `${port} is free` };
  if (vxlanUp.owned + vxlanUp.foreign === 0) {
    return {
      name,
      severity: 'problem',
      message: `${port} is taken by a program on this host: VXLAN devices on it cannot come up ("Address already in use")`,
      fix: `find it with \`ss -ulpn 'sport = :${port}'\` and stop it, or set mesh.port to a free port on every server`,
    };
  }
  if (vxlanUp.foreign === 0) return { name, severity: 'ok', message: `${port} is held by vxmesh's own VXLAN devices` };
  return {
    name,
    severity: 'warning',
    message: `${port} is shared with ${vxlanUp.foreign} VXLAN device(s) vxmesh does not own: the kernel tells devices on one port apart by VNI alone`,
    fix: 'make sure their VNIs (`ip -d link show type vxlan`) differ from the mesh\'s, or set mesh.port to another port',
  };
}

/** The underlay must carry mesh MTU + 50 (IPv4) / + 70 (IPv6). */
export function mtuVerdict(device: string, underlayMtu: number, meshMtu: number, family: 4 | 6): DoctorCheck {
  const overhead = VXLAN_OVERHEAD[family];
  const need = meshMtu + overhead;
  if (underlayMtu >= need) return { name: 'underlay mtu', severity: 'ok', message: `${device} MTU ${underlayMtu} >= mesh MTU ${meshMtu} + ${overhead}` };
  return {
    name: 'underlay mtu',
    severity: 'problem',
    message: `${device} MTU ${underlayMtu} is below mesh MTU ${meshMtu} + ${overhead} (IPv${family} VXLAN overhead) = ${need}: full-size frames would be dropped`,
    fix: `raise the underlay MTU to ${need} or more (\`ip link set dev ${device} mtu ${need}\`, and in its network config), or set mesh.mtu to ${underlayMtu - overhead} or less on every server`,
  };
}

/** Encrypted mode: underlay - 60/80 (WireGuard) - 50 (VXLAN) must carry the mesh MTU. */
export function wireguardMtuVerdict(device: string, underlayMtu: number, meshMtu: number, family: 4 | 6): DoctorCheck {
  const c = computeMtuChain(underlayMtu, family, meshMtu);
  if (c.ok) return { name: 'mtu chain', severity: 'ok', message: `${device} ${c.underlay} -> WireGuard ${c.wireguard} -> VXLAN carries ${c.fits} >= mesh ${meshMtu}` };
  return { name: 'mtu chain', severity: 'problem', message: `${device}: ${c.problem}`, fix: `\`ip link set dev ${device} mtu ${meshMtu + 50 + WIREGUARD_OVERHEAD[family]}\` where the underlay allows it, or mesh.mtu: ${c.fits} on every server` };
}

/** Encrypted mode: which WireGuard this host runs, or what to install. */
export function wireguardVerdict(choice: { implementation: 'kernel' | 'userspace' | undefined; problem: string | undefined }): DoctorCheck {
  if (choice.implementation === 'kernel') return { name: 'wireguard', severity: 'ok', message: 'kernel module (ip link add ... type wireguard works), configured with wg' };
  if (choice.implementation === 'userspace') return { name: 'wireguard', severity: 'ok', message: 'userspace: wireguard-go (this kernel has no wireguard module); vxmesh starts it as its own process and makes it again if it dies' };
  return { name: 'wireguard', severity: 'problem', message: choice.problem ?? 'no WireGuard', fix: 'Debian/Ubuntu: `apt-get install wireguard-tools wireguard-go` (or a kernel with CONFIG_WIREGUARD, Linux >= 5.6, and wireguard-tools)' };
}

/** Which line of the throwaway `ip -batch` failed, as the kernel feature that is missing. */
export const KERNEL_PROBE_LINES = [
  { feature: 'bridge', line: 'link add vxdoctorbr type bridge' },
  { feature: 'vxlan', line: 'link add vxdoctor0 type vxlan id 1 dstport 4789 nolearning' },
  { feature: 'bridge ports', line: 'link set dev vxdoctor0 master vxdoctorbr' },
  { feature: 'port isolation', line: 'link set dev vxdoctor0 type bridge_slave isolated on' },
] as const;

export function kernelVerdict(failedLine: number | undefined, error: string, isolatedMode: boolean): DoctorCheck {
  const name = 'kernel';
  if (failedLine === undefined) return { name, severity: 'ok', message: 'vxlan, bridge and bridge port isolation work (tried in a throwaway network namespace)' };
  const what = KERNEL_PROBE_LINES[failedLine - 1]?.feature ?? 'network devices';
  if (what === 'port isolation') {
    return {
      name,
      severity: isolatedMode ? 'problem' : 'warning',
      message: `bridge port isolation does not work (${error}); vxlan and bridge do`,
      fix: isolatedMode ? 'use a kernel >= 4.18 with a matching iproute2, or set loop_prevention: ebtables' : 'none needed with loop_prevention: ebtables',
    };
  }
  const module = what === 'vxlan' ? 'vxlan' : 'bridge';
  return {
    name,
    severity: 'problem',
    message: `cannot create a ${what === 'vxlan' ? 'VXLAN device' : what === 'bridge' ? 'bridge' : 'bridge port'} (${error})`,
    fix: `load the module (\`modprobe ${module}\`; it may be blacklisted in /etc/modprobe.d) or use a kernel built with ${module === 'vxlan' ? 'CONFIG_VXLAN' : 'CONFIG_BRIDGE'}`,
  };
}

/** "Command failed -:2" from `ip -batch`: the 1-based line that failed. */
export function failedBatchLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** A VXLAN device vxmesh does not own, as `ip -d link` shows it. */
export interface ForeignVxlan {
  name: string;
  vni: number;
  local: string | undefined;
}

/**
 * Other VXLAN devices on the mesh's port, named: one with a VNI of the mesh cannot coexist
 * with ours (the kernel demultiplexes by VNI alone); one on vxmesh's own address, or with no
 * local address, has its traffic dropped by the ingress filter unless its remotes are peers.
 */
export function foreignVxlanVerdict(port: number, ownLocal: string, meshVnis: Set<number>, foreign: ForeignVxlan[], ingressFilter: boolean): DoctorCheck | undefined {
  if (foreign.length === 0) return undefined;
  const name = 'vxlan port conflict';
  const clash = foreign.filter((f) => meshVnis.has(f.vni));
  if (clash.length) {
    return {
      name,
      severity: 'problem',
      message: `${clash.map((f) => `${f.name} (VNI ${f.vni})`).join(', ')} use${clash.length === 1 ? 's' : ''} udp ${port} with a VNI of the mesh: the kernel cannot tell the two apart`,
      fix: 'give that device another VNI or port, or set mesh.vni_base / mesh.port so the mesh uses others',
    };
  }
  const onOurs = foreign.filter((f) => f.local === undefined || f.local === ownLocal);
  if (ingressFilter && onOurs.length) {
    return {
      name,
      severity: 'warning',
      message: `${onOurs.map((f) => `${f.name} (VNI ${f.vni}, local ${f.local ?? 'any'})`).join(', ')} share${onOurs.length === 1 ? 's' : ''} udp ${port} on vxmesh's address ${ownLocal}: the ingress filter drops its packets from hosts that are not peers`,
      fix: `give it its own local address (\`local <addr>\`), or set mesh.port to another port, or ingress_filter: false`,
    };
  }
  return { name, severity: 'ok', message: `${foreign.map((f) => `${f.name} (VNI ${f.vni}, local ${f.local})`).join(', ')} share${foreign.length === 1 ? 's' : ''} udp ${port} on other addresses: no VNI in common, left alone by the ingress filter` };
}

/** Pure: the VXLAN devices vxmesh does not own on the mesh's port, judged against this host's part of `config`. */
export function vxlanPortConflict(config: Config, node: string | undefined, links: Map<string, LinkInfo>): DoctorCheck | undefined {
  const self = findSelf(config, node, localAddresses(links));
  if (!self.ok) return undefined;
  const desired = computeDesired(config, self.self, self.underlay, self.local);
  const vnis = new Set([...desired.links.map((l) => l.vni), ...desired.segments.map((g) => g.single.vni)]);
  const foreign = [...links.values()]
    .filter((l) => l.vxlan?.port === config.mesh.port && !isOwnedAlias(l.alias))
    .map((l) => ({ name: l.name, vni: l.vxlan!.vni, local: l.vxlan!.local }));
  return foreignVxlanVerdict(config.mesh.port, self.local, vnis, foreign, config.mesh.ingressFilter);
}

/** The mesh bridge must not take router advertisements or autoconfigure addresses from the overlay. */
export function bridgeRaVerdict(bridge: string, acceptRa: string | undefined, autoconf: string | undefined): DoctorCheck | undefined {
  if (acceptRa === undefined) return undefined; // no bridge yet, or no IPv6
  const on = [acceptRa.trim() !== '0' ? `accept_ra=${acceptRa.trim()}` : '', autoconf !== undefined && autoconf.trim() !== '0' ? `autoconf=${autoconf.trim()}` : ''].filter(Boolean);
  if (on.length === 0) return { name: 'bridge ipv6', severity: 'ok', message: `${bridge} takes no router advertisements` };
  return {
    name: 'bridge ipv6',
    severity: 'warning',
    message: `${bridge} has ${on.join(', ')}: a container's router advertisement would give this host addresses and a default route through the overlay`,
    fix: `\`sysctl -w net.ipv6.conf.${bridge}.accept_ra=0 net.ipv6.conf.${bridge}.autoconf=0\` (and in /etc/sysctl.d)`,
  };
}

/** Routes (`ip -j route show`) through the bridge that cover 169.254.0.0/16, the probe's link-local range. */
export function linkLocalRouteVerdict(bridge: string, routes: { dst?: string; dev?: string }[]): DoctorCheck | undefined {
  const covering = routes.filter((r) => r.dev === bridge && r.dst !== undefined && coversLinkLocal(r.dst));
  if (covering.length === 0) return undefined;
  return {
    name: 'bridge routes',
    severity: 'warning',
    message: `route${covering.length === 1 ? '' : 's'} ${covering.map((r) => r.dst).join(', ')} via ${bridge} cover${covering.length === 1 ? 's' : ''} 169.254.0.0/16: link-local traffic of this host (cloud metadata, other links) goes into the overlay`,
    fix: `remove it (\`ip route del ${covering[0]!.dst} dev ${bridge}\`) and the config that adds it (often avahi-autoipd or a zeroconf route)`,
  };
}

function coversLinkLocal(dst: string): boolean {
  if (dst === 'default') return false;
  const [addr, len] = dst.split('/');
  const bits = len === undefined ? 32 : Number(len);
  if (!addr || addr.includes(':') || bits > 16) return false;
  const [a = 0, b = 0] = addr.split('.').map(Number);
  const ip = ((a << 24) | (b << 16)) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((ip & mask) >>> 0) === ((0xa9fe0000 & mask) >>> 0);
}
