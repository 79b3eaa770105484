import type { CommandRunner } from './runner.js';
import { renderChainRestore, type Plan } from '../plan/plan.js';

/**
 * Apply a plan in its three phases, one process per phase. `ip -batch` stops at the first
 * failing line (earlier lines stay applied), ebtables-restore is all-or-nothing; either way
 * the caller re-observes and re-plans rather than trusting what got done.
 */
export async function applyPlan(runner: CommandRunner, plan: Plan): Promise<void> {
  // The ingress filter guards the port, not against loops: its failure (nft missing) must not
  // hold back the mesh, so it is reported after the rest has been applied.
  let ingressError: unknown;
  if (plan.nft) await runner.run('nft', ['-f', '-'], { input: plan.nft }).catch((err: unknown) => (ingressError = err));
  if (plan.pre.length) await runner.run('ip', ['-batch', '-'], { input: plan.pre.join('\n') + '\n' });
  if (plan.fdb.length) await runner.run('bridge', ['-batch', '-'], { input: plan.fdb.join('\n') + '\n' });
  if (plan.chain) await runner.run('ebtables-restore', ['--noflush'], { input: renderChainRestore(plan.chain) });
  for (const args of plan.ebtables) await runner.run('ebtables', args);
  if (plan.post.length) await runner.run('ip', ['-batch', '-'], { input: plan.post.join('\n') + '\n' });
  if (ingressError) throw ingressError;
}
