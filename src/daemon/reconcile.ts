import type { Logger } from 'pino';
import { applyPlan } from '../kernel/apply.js';
import { observe } from '../kernel/observe.js';
import { CommandError, type Runner } from '../kernel/runner.js';
import { currentUnderlay, localAddresses, type ActualState } from '../model/state.js';
import { computeDesired, findSelf, type DesiredState } from '../plan/desired.js';
import { computePlan, computeTeardown, isEmptyPlan, type Plan } from '../plan/plan.js';
import type { Config } from '../model/types.js';

export interface ReconcileOutcome {
  changes: string[];
  errors: string[];
  /** Set when the host cannot take part yet (its address is not up) or its config names no such node. */
  waiting: string | undefined;
  blocked: string[];
  desired: DesiredState | undefined;
  durationMs: number;
}

/** Where a plan comes from: the config, or "remove everything vxmesh owns". */
export type Goal = { kind: 'mesh'; config: Config; node: string | undefined } | { kind: 'teardown' };

/** What a plan for `goal` is now, against a fresh read of the kernel. Pure apart from the read. */
export async function planNow(runner: Runner, goal: Goal): Promise<{ plan: Plan | undefined; desired: DesiredState | undefined; waiting: string | undefined; actual: ActualState }> {
  const actual = await observe(runner);
  if (goal.kind === 'teardown') return { plan: computeTeardown(actual), desired: undefined, waiting: undefined, actual };
  const self = findSelf(goal.config, goal.node, localAddresses(actual.links), currentUnderlay(actual.links));
  if (!self.ok) return { plan: undefined, desired: undefined, waiting: self.reason, actual };
  const desired = computeDesired(goal.config, self.self, self.underlay, self.local);
  return { plan: computePlan(desired, actual), desired, waiting: undefined, actual };
}

/**
 * The one path to the kernel: observe, plan the difference, apply it, then observe again
 * to verify. Whatever triggered it, it is the same full sync.
 */
export async function reconcile(runner: Runner, log: Logger, goal: Goal): Promise<ReconcileOutcome> {
  const started = performance.now();
  const out: ReconcileOutcome = { changes: [], errors: [], waiting: undefined, blocked: [], desired: undefined, durationMs: 0 };
  try {
    const first = await planNow(runner, goal);
    out.desired = first.desired;
    out.waiting = first.waiting;
    const plan = first.plan;
    if (plan) {
      out.blocked = plan.blocked;
      if (!isEmptyPlan(plan)) {
        const errors = await applyPlan(runner, plan);
        for (const err of errors) {
          out.errors.push(describe(err));
          log.error({ err: errorFields(err), planned: plan.changes }, 'apply step failed');
        }
        // What was planned is logged as applied only when every step went through; after a
        // failure the next run re-plans from a fresh read and reports what is still missing.
        if (errors.length === 0) {
          out.changes = plan.changes;
          for (const change of plan.changes) log.info({ change }, 'applied');
        }
        const again = await planNow(runner, goal);
        if (again.plan && !isEmptyPlan(again.plan) && out.errors.length === 0) {
          out.errors.push(`not converged after apply: ${again.plan.changes.join('; ')}`);
        }
      }
    }
  } catch (err) {
    out.errors.push(describe(err));
    log.error({ err: errorFields(err) }, 'reconcile failed');
  }
  out.durationMs = Math.round((performance.now() - started) * 10) / 10;
  return out;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof CommandError) return { command: err.command, exitCode: err.exitCode, stderr: err.stderr.trim() };
  return { message: describe(err) };
}
