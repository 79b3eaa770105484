import { applyPlan } from '../kernel/apply.js';
import { observe } from '../kernel/observe.js';
import type { Runner } from '../kernel/runner.js';
import { currentUnderlay, localAddresses, type ActualState } from '../model/state.js';
import { computeDesired, findSelf, type DesiredState, type SelfResult } from '../plan/desired.js';
import { computePlan, computeTeardown, isEmptyPlan, type Plan } from '../plan/plan.js';
import type { Config } from '../model/types.js';

/** One failed step or read, with what an operator needs to see why. */
export interface ReconcileError {
  message: string;
  /** The error itself (a CommandError carries command, exit code, stderr and input). */
  err: Error;
}

export interface ReconcileOutcome {
  changes: string[];
  /** Changes planned when a step failed: what the failed apply was about. */
  planned: string[];
  errors: ReconcileError[];
  /** Set when the host cannot take part yet (its address is not up) or its config names no such node. */
  waiting: string | undefined;
  blocked: string[];
  desired: DesiredState | undefined;
  /** The last read of the kernel: after the apply when there was one. */
  observed: ActualState | undefined;
  durationMs: number;
}

/** Where a plan comes from: the config, or "remove everything vxmesh owns". */
export type Goal = { kind: 'mesh'; config: Config; node: string | undefined } | { kind: 'teardown' };

export interface PlanNow {
  plan: Plan | undefined;
  desired: DesiredState | undefined;
  /** Which peer this host is (mesh goals only). */
  self: SelfResult | undefined;
  waiting: string | undefined;
  actual: ActualState;
}

/**
 * What a plan for `goal` is against `actual`: the one function that plans "now", for
 * reconcile, status and `vxmesh plan`. Pure.
 */
export function planFor(goal: Goal, actual: ActualState): PlanNow {
  if (goal.kind === 'teardown') return { plan: computeTeardown(actual), desired: undefined, self: undefined, waiting: undefined, actual };
  const self = findSelf(goal.config, goal.node, localAddresses(actual.links), currentUnderlay(actual.links));
  if (!self.ok) return { plan: undefined, desired: undefined, self, waiting: self.reason, actual };
  const desired = computeDesired(goal.config, self.self, self.underlay, self.local);
  return { plan: computePlan(desired, actual), desired, self, waiting: undefined, actual };
}

/** planFor against a fresh read of the kernel. */
export async function planNow(runner: Runner, goal: Goal): Promise<PlanNow> {
  return planFor(goal, await observe(runner));
}

/**
 * Passes of observe -> plan -> apply in one reconcile. Some changes must wait for the kernel
 * to read back an earlier one: a port comes up only once it reads back attached and isolated,
 * and the chain is removed (isolated mode, stop) only once no exposed port remains.
 */
const MAX_PASSES = 4;

/**
 * The one path to the kernel: observe, plan the difference, apply it, then observe again
 * to verify, and apply what the new read still asks for (the next step of a change that
 * waits for a read-back). Whatever triggered it, it is the same full sync. Errors are
 * returned, not logged: the caller logs them once.
 */
export async function reconcile(runner: Runner, goal: Goal): Promise<ReconcileOutcome> {
  const started = performance.now();
  const out: ReconcileOutcome = { changes: [], planned: [], errors: [], waiting: undefined, blocked: [], desired: undefined, observed: undefined, durationMs: 0 };
  try {
    let now = await planNow(runner, goal);
    out.observed = now.actual;
    out.desired = now.desired;
    out.waiting = now.waiting;
    out.blocked = now.plan?.blocked ?? [];
    for (let pass = 1; now.plan && !isEmptyPlan(now.plan); pass++) {
      if (pass > MAX_PASSES) {
        const message = `not converged after apply: ${now.plan.changes.join('; ')}`;
        out.errors.push({ message, err: new Error(message) });
        break;
      }
      const plan = now.plan;
      const errors = await applyPlan(runner, plan);
      for (const err of errors) out.errors.push({ message: err.message, err });
      // What was planned counts as applied only when every step went through; after a
      // failure the next run re-plans from a fresh read and reports what is still missing.
      if (errors.length === 0) out.changes.push(...plan.changes);
      else out.planned.push(...plan.changes);
      now = await planNow(runner, goal);
      out.blocked = now.plan?.blocked ?? [];
      if (errors.length > 0) break;
    }
    out.observed = now.actual;
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    out.errors.push({ message: e.message, err: e });
  }
  out.durationMs = Math.round((performance.now() - started) * 10) / 10;
  return out;
}
