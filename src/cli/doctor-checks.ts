/**
 * Pure parts of `vxmesh doctor`: the verdict of each check from what was read. Kept apart
 * from the reads so each verdict and its fix is tested without a host.
 */
import { VXLAN_OVERHEAD } from '../model/types.js';

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
