import { pino } from 'pino';
import { formatIssue, loadConfig } from '../config/load.js';
import { probeEbtablesBackend } from '../kernel/ebtables-backend.js';
import { CommandRunner } from '../kernel/runner.js';
import { planNow } from '../daemon/reconcile.js';
import { isEmptyPlan, renderPlan } from '../plan/plan.js';
import { renderFrrFragment } from '../evpn/frr-config.js';
import { EXIT } from './exit-codes.js';
import type { CommonOptions } from './options.js';
import { existingWireguard, probeWireguard } from '../kernel/wireguard-probe.js';
import { keyPath, readPublicKey } from '../keys/private-key.js';
import type { WireguardHost } from '../plan/wireguard.js';

/** `vxmesh plan`: the exact commands a reconcile would run now, run nothing. */
export async function planCommand(common: CommonOptions): Promise<number> {
  const r = await loadConfig(common.configDir);
  if (!r.ok) {
    for (const i of r.issues) process.stderr.write(`${formatIssue(i)}\n`);
    return EXIT.failure;
  }
  const runner = new CommandRunner(pino({ level: 'silent' }));
  const ebtables = await probeEbtablesBackend(runner);
  const wireguard = r.config.mesh.encryption === 'wireguard' ? await wireguardHost(runner, common.stateDir, r.config.mesh.wireguard.device) : undefined;
  const now = await planNow(runner, { kind: 'mesh', config: r.config, node: common.node, ...(wireguard ? { wireguard } : {}) }, ebtables);
  if (!now.plan) {
    process.stderr.write(`cannot plan: ${now.waiting}\n`);
    return EXIT.failure;
  }
  if (!ebtables.backend && r.config.mesh.loopPrevention === 'ebtables') process.stderr.write(`problem: ${ebtables.problem}\n`);
  for (const b of now.plan.blocked) process.stderr.write(`blocked: ${b}\n`);
  // EVPN: the FRR lines vxmesh keeps, as comments (the output stays a script sh can run).
  if (now.desired?.frr) {
    const where = now.desired.frr.pathspace ? ` (FRR pathspace ${now.desired.frr.pathspace})` : '';
    const text = renderFrrFragment(now.desired.frr).trimEnd().split('\n').map((l) => `#   ${l}`).join('\n');
    process.stdout.write(`# vxmesh's lines in FRR${where}; the vtysh step below, if any, adds what FRR lacks of them:\n${text}\n`);
  }
  process.stdout.write(isEmptyPlan(now.plan) ? '# nothing to do: the kernel matches the config\n' : renderPlan(now.plan, ebtables.backend) + '\n');
  return EXIT.ok;
}

/** What the daemon would find: the WireGuard implementation and this server's public key (the key file is only read, never made here). */
async function wireguardHost(runner: CommandRunner, stateDir: string, device: string): Promise<WireguardHost> {
  const choice = (await existingWireguard(runner, device)) ?? (await probeWireguard(runner));
  try {
    const k = await readPublicKey(stateDir);
    return { ...choice, keyFile: k.path, publicKey: k.publicKey, keyProblem: undefined };
  } catch (err) {
    return { ...choice, keyFile: keyPath(stateDir), publicKey: undefined, keyProblem: err instanceof Error ? err.message : String(err) };
  }
}
