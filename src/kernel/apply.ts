import type { CommandRunner } from './runner.js';
import { renderChainAppend, renderChainRestore, type Plan } from '../plan/plan.js';

/** Adds the FORWARD jump to the vxmesh chain (as opposed to removing or flushing something). */
function isJumpInsert(args: string[]): boolean {
  return args.includes('-I');
}

/**
 * Apply a plan in its phases, one process per phase, and return every error. One refused
 * line (a device the kernel will not take) must not freeze the rest of the mesh, so the ip and
 * bridge batches run with -force and loop prevention is written whatever happened before it
 * (rules naming a device that failed are harmless). Ports join the bridge (`post`) only when
 * loop prevention is in place. The caller re-observes and re-plans rather than trusting what
 * got done.
 */
export async function applyPlan(runner: CommandRunner, plan: Plan): Promise<Error[]> {
  const errors: Error[] = [];
  const step = async (file: string, args: string[], input?: string): Promise<boolean> => {
    try {
      await runner.run(file, args, input === undefined ? {} : { input });
      return true;
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
  };
  const batch = (lines: string[]) => lines.join('\n') + '\n';
  // The ingress filter guards the port, not against loops: its failure (nft missing) is reported
  // but holds nothing back.
  if (plan.nft) await step('nft', ['-f', '-'], plan.nft);
  if (plan.pre.length) await step('ip', ['-force', '-batch', '-'], batch(plan.pre));
  if (plan.fdb.length) await step('bridge', ['-force', '-batch', '-'], batch(plan.fdb));
  let loopSafe = true;
  if (plan.chain) loopSafe = await step('ebtables-restore', ['--noflush'], renderChainRestore(plan.chain));
  if (plan.chainAppend.length) loopSafe = (await step('ebtables-restore', ['--noflush'], renderChainAppend(plan.chainAppend))) && loopSafe;
  for (const args of plan.ebtables) {
    const ok = await step('ebtables', args);
    if (isJumpInsert(args)) loopSafe &&= ok;
  }
  if (plan.post.length && loopSafe) await step('ip', ['-force', '-batch', '-'], batch(plan.post));
  return errors;
}
