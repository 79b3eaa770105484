import type { Runner } from './runner.js';
import { WIREGUARD_ALIAS, type WgImplementation } from '../model/wireguard.js';

export interface WireguardChoice {
  implementation: WgImplementation | undefined;
  /** Why there is none, and what to install. */
  problem: string | undefined;
}

/** A name no admin uses: the probe's own short-lived device. */
const PROBE_DEVICE = 'vxmesh-wgprobe';
const PROBE_TIMEOUT_MS = 5000;

export const WIREGUARD_FIX =
  'install wireguard-tools (`wg`), and either run a kernel with the wireguard module (Linux >= 5.6, CONFIG_WIREGUARD) or install wireguard-go (Debian: `apt-get install wireguard-tools wireguard-go`)';

/**
 * Which WireGuard this host has: the kernel module when `ip link add ... type wireguard` works
 * (the probe's device is deleted at once), else Debian's userspace wireguard-go. Both need `wg`.
 */
export async function probeWireguard(runner: Runner): Promise<WireguardChoice> {
  const opts = { timeoutMs: PROBE_TIMEOUT_MS };
  try {
    await runner.run('wg', ['--version'], opts);
  } catch (err) {
    return { implementation: undefined, problem: `wg does not run (${firstLine(err)}): ${WIREGUARD_FIX}` };
  }
  let kernelWhy = '';
  // Twice at most: a probe device left by a daemon killed mid-probe is in the way the first time.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await runner.run('ip', ['link', 'add', 'name', PROBE_DEVICE, 'type', 'wireguard'], opts);
      await runner.run('ip', ['link', 'del', 'dev', PROBE_DEVICE], opts).catch(() => undefined);
      return { implementation: 'kernel', problem: undefined };
    } catch (err) {
      kernelWhy = firstLine(err);
      if (!/File exists/.test(kernelWhy)) break;
      await runner.run('ip', ['link', 'del', 'dev', PROBE_DEVICE], opts).catch(() => undefined);
    }
  }
  try {
    await runner.run('wireguard-go', ['--version'], opts);
    return { implementation: 'userspace', problem: undefined };
  } catch (err) {
    return { implementation: undefined, problem: `no WireGuard on this host: the kernel has none (${kernelWhy}) and wireguard-go does not run (${firstLine(err)}): ${WIREGUARD_FIX}` };
  }
}

/**
 * The implementation vxmesh's existing WireGuard interface shows (kind `wireguard`: the module;
 * `tun`: wireguard-go), so a read-only command such as `vxmesh plan` need not make a probe device
 * on a running host. Undefined when there is no such interface of vxmesh's: then probe.
 */
export async function existingWireguard(runner: Runner, device: string): Promise<WireguardChoice | undefined> {
  try {
    const [l] = JSON.parse(await runner.run('ip', ['-j', '-d', 'link', 'show', 'dev', device], { timeoutMs: PROBE_TIMEOUT_MS })) as { ifalias?: string; linkinfo?: { info_kind?: string } }[];
    // The plan's own test of ownership (its alias): a foreign interface of that name is not adopted.
    if (!l || l.ifalias !== WIREGUARD_ALIAS) return undefined;
    const kind = l.linkinfo?.info_kind;
    if (kind === 'wireguard') return { implementation: 'kernel', problem: undefined };
    if (kind === 'tun') return { implementation: 'userspace', problem: undefined };
  } catch {
    // no such interface, or ip could not say: probe
  }
  return undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);
}
