import { pino } from 'pino';
import { formatIssue, loadConfig, type ConfigIssue } from '../config/load.js';
import { probeEbtablesBackend, type EbtablesChoice } from '../kernel/ebtables-backend.js';
import { CommandRunner } from '../kernel/runner.js';
import { EXIT } from './exit-codes.js';
import { parseIpLinks } from '../kernel/parse.js';
import { localAddresses } from '../model/state.js';
import { computeMtuChain, WIREGUARD_OVERHEAD, type MtuChain } from '../model/wireguard.js';
import type { Config } from '../model/types.js';

/** What `check --json` prints. */
export interface CheckReport {
  ok: boolean;
  dir: string;
  files: string[];
  errors: (ConfigIssue & { text: string })[];
  warnings: string[];
  config: { peers: number; bridge: string; mtu: number; port: number; mode: string; loopPrevention: string; ingressFilter: boolean; device: string | null; vni: number | null; group: string | null; encryption: string } | null;
  /** Encrypted mode: the underlay MTU the mesh MTU needs, and the chain on this host when its underlay is found. */
  mtuChain: { needIPv4: number; needIPv6: number; here: MtuChain | null } | null;
  /** Only probed as root: whether this host can make the config's loop prevention. */
  host: { ebtables: { backend: EbtablesChoice['backend'] | null; problem: string | null } | null };
}

/** `vxmesh check [DIR]`: validate the config; errors as file:line:col. */
export async function checkCommand(dir: string, json: boolean): Promise<number> {
  const report = await buildCheckReport(dir);
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else printCheck(report);
  return report.ok ? EXIT.ok : EXIT.failure;
}

async function buildCheckReport(dir: string): Promise<CheckReport> {
  const r = await loadConfig(dir);
  if (!r.ok) {
    return { ok: false, dir, files: r.files, errors: r.issues.map((i) => ({ ...i, text: formatIssue(i) })), warnings: [], config: null, mtuChain: null, host: { ebtables: null } };
  }
  const c = r.config;
  const warnings = [...c.warnings];
  let ebtables: CheckReport['host']['ebtables'] = null;
  // The config is valid; whether this host can run it is doctor's job, except for the one thing
  // that keeps every port off the bridge. Only root can probe ebtables.
  if (c.mesh.mode === 'per-peer' && c.mesh.loopPrevention === 'ebtables' && process.geteuid?.() === 0) {
    const eb = await probeEbtablesBackend(new CommandRunner(pino({ level: 'silent' })));
    ebtables = { backend: eb.backend ?? null, problem: eb.problem ?? null };
    if (eb.problem) warnings.push(`this host: ${eb.problem}`);
  }
  const mtuChain = c.mesh.encryption === 'wireguard' ? await chainHere(c) : null;
  if (mtuChain?.here && !mtuChain.here.ok) warnings.push(`this host: ${mtuChain.here.problem}`);
  return {
    ok: true,
    dir,
    files: c.files,
    mtuChain,
    errors: [],
    warnings,
    config: {
      peers: c.peers.length,
      bridge: c.mesh.bridge,
      mtu: c.mesh.mtu,
      port: c.mesh.port,
      mode: c.mesh.mode,
      loopPrevention: c.mesh.mode === 'per-peer' ? c.mesh.loopPrevention : 'none',
      ingressFilter: c.mesh.ingressFilter,
      device: c.mesh.mode === 'per-peer' ? null : c.mesh.device,
      vni: c.mesh.vni ?? null,
      group: c.mesh.group ?? null,
      encryption: c.mesh.encryption,
    },
    host: { ebtables },
  };
}

/**
 * The underlay MTU an encrypted mesh needs (mesh + 50 + 60/80), and the chain on this host when
 * one of its addresses is a peer's (reading the interfaces needs no root).
 */
async function chainHere(c: Config): Promise<NonNullable<CheckReport['mtuChain']>> {
  const need = { needIPv4: c.mesh.mtu + 50 + WIREGUARD_OVERHEAD[4], needIPv6: c.mesh.mtu + 50 + WIREGUARD_OVERHEAD[6] };
  try {
    const links = parseIpLinks(await new CommandRunner(pino({ level: 'silent' })).run('ip', ['-j', '-d', '-s', 'addr', 'show'], { timeoutMs: 5000 }));
    // Loaded only here: check of a clear mesh loads no planner.
    const { findSelf } = await import('../plan/desired.js');
    const self = findSelf(c, undefined, localAddresses(links));
    const dev = self.ok ? links.get(self.underlay) : undefined;
    return { ...need, here: self.ok && dev ? computeMtuChain(dev.mtu, self.self.family, c.mesh.mtu) : null };
  } catch {
    return { ...need, here: null };
  }
}

function printCheck(r: CheckReport): void {
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${e.text}\n`);
    process.stderr.write(`${r.errors.length} error${r.errors.length === 1 ? '' : 's'} in ${r.dir}\n`);
    return;
  }
  const c = r.config!;
  const mode = c.mode === 'per-peer' ? `mode per-peer, loop prevention ${c.loopPrevention}` : `mode ${c.mode}, device ${c.device}, vni ${c.vni}${c.group ? `, group ${c.group}` : ''}, no loop prevention needed`;
  process.stdout.write(`ok: ${r.files.length} file(s), ${c.peers} peers, bridge ${c.bridge}, mtu ${c.mtu}, port ${c.port}, ${mode}\n`);
  if (r.mtuChain) {
    const here = r.mtuChain.here ? `; here: underlay ${r.mtuChain.here.underlay} -> WireGuard ${r.mtuChain.here.wireguard} -> VXLAN carries ${r.mtuChain.here.fits}` : '';
    process.stdout.write(`encryption: wireguard; mesh mtu ${c.mtu} needs an underlay MTU of ${r.mtuChain.needIPv4} (IPv4) or ${r.mtuChain.needIPv6} (IPv6)${here}\n`);
  }
  for (const w of r.warnings) process.stdout.write(`warning: ${w}\n`);
}
