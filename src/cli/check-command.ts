import { pino } from 'pino';
import { formatIssue, loadConfig, type ConfigIssue } from '../config/load.js';
import { probeEbtablesBackend, type EbtablesChoice } from '../kernel/ebtables-backend.js';
import { CommandRunner } from '../kernel/runner.js';
import { EXIT } from './exit-codes.js';

/** What `check --json` prints. */
export interface CheckReport {
  ok: boolean;
  dir: string;
  files: string[];
  errors: (ConfigIssue & { text: string })[];
  warnings: string[];
  config: { peers: number; bridge: string; mtu: number; port: number; mode: string; loopPrevention: string; ingressFilter: boolean; device: string | null; vni: number | null; group: string | null } | null;
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
    return { ok: false, dir, files: r.files, errors: r.issues.map((i) => ({ ...i, text: formatIssue(i) })), warnings: [], config: null, host: { ebtables: null } };
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
  return {
    ok: true,
    dir,
    files: c.files,
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
    },
    host: { ebtables },
  };
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
  for (const w of r.warnings) process.stdout.write(`warning: ${w}\n`);
}
