import { applyPlan } from '../kernel/apply.js';
import { observe } from '../kernel/observe.js';
import { observeFrr } from '../kernel/frr-observe.js';
import { learnedVteps, withVteps } from '../evpn/vteps.js';
import type { Runner } from '../kernel/runner.js';
import { currentUnderlay, localAddresses, type ActualState } from '../model/state.js';
import { computeDesired, findSelf, type DesiredState, type SelfResult } from '../plan/desired.js';
import { computePlan, computeTeardown, isEmptyPlan, type Plan } from '../plan/plan.js';
import type { Config } from '../model/types.js';
import type { WireguardHost } from '../plan/wireguard.js';
import type { EbtablesChoice } from '../model/ebtables.js';

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
export type Goal = { kind: 'mesh'; config: Config; node: string | undefined; wireguard?: WireguardHost } | { kind: 'teardown' };

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
  // VXLAN devices on the WireGuard interface do not say where the underlay is.
  const wgDevice = goal.config.mesh.wireguard.device;
  const lastUnderlay = currentUnderlay(actual.links);
  const self = findSelf(goal.config, goal.node, localAddresses(actual.links), lastUnderlay === wgDevice ? undefined : lastUnderlay);
  if (!self.ok) return { plan: undefined, desired: undefined, self, waiting: self.reason, actual };
  let desired = computeDesired(goal.config, self.self, self.underlay, self.local, goal.wireguard);
  // EVPN: the VTEPs BGP taught zebra pass the ingress filter too.
  if (desired.mode === 'evpn' && desired.ingress) {
    const vteps = [...new Set(desired.segments.flatMap((g) => learnedVteps(actual.links.get(g.single.device))))];
    desired = { ...desired, ingress: withVteps(desired.ingress, vteps) };
  }
  return { plan: computePlan(desired, actual), desired, self, waiting: undefined, actual };
}

/** planFor against a fresh read of the kernel, with the ebtables backend probed at start. */
export async function planNow(runner: Runner, goal: Goal, ebtables: EbtablesChoice): Promise<PlanNow> {
  const actual = await observe(runner, ebtables, undefined, wireguardDeviceOf(goal));
  // FRR is read only where the config asks for EVPN: a static mesh needs no FRR on the host.
  if (goal.kind === 'mesh' && goal.config.mesh.control === 'evpn') actual.frr = await observeFrr(runner, goal.config.mesh.bgp?.frrPathspace);
  return planFor(goal, actual);
}

/** The WireGuard interface to read with `wg show`, when the goal is an encrypted mesh. */
export function wireguardDeviceOf(goal: Goal | undefined): string | undefined {
  return goal?.kind === 'mesh' && goal.config.mesh.encryption === 'wireguard' ? goal.config.mesh.wireguard.device : undefined;
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
export async function reconcile(runner: Runner, goal: Goal, ebtables: EbtablesChoice): Promise<ReconcileOutcome> {
  const started = performance.now();
  const out: ReconcileOutcome = { changes: [], planned: [], errors: [], waiting: undefined, blocked: [], desired: undefined, observed: undefined, durationMs: 0 };
  try {
    const first = await planNow(runner, goal, ebtables);
    out.desired = first.desired;
    out.waiting = first.waiting;
    out.observed = first.actual;
    let plan = first.plan;
    if (plan) out.blocked = plan.blocked;
    // Usually one pass. A mode switch takes two (the ports of one mode leave before the ports of
    // the other join), a new port up to three (made, attached and isolated, then up), each
    // planned from a fresh read of the kernel.
    for (let pass = 1; plan && !isEmptyPlan(plan); pass++) {
      const applied = plan;
      const errors = await applyPlan(runner, plan, ebtables.backend);
      for (const err of errors) out.errors.push({ message: err.message, err });
      // What was planned counts as applied only when every step went through; after a
      // failure the next run re-plans from a fresh read and reports what is still missing.
      if (errors.length === 0) out.changes.push(...plan.changes);
      else out.planned.push(...plan.changes);
      const again = await planNow(runner, goal, ebtables);
      out.observed = again.actual;
      plan = again.plan;
      out.blocked = plan?.blocked ?? [];
      if (errors.length > 0) break;
      // Another pass only for new work (the next step of a change), never the same plan again.
      if (plan && !isEmptyPlan(plan) && (pass >= MAX_PASSES || sameSteps(plan, applied))) {
        const message = `not converged after apply: ${plan.changes.join('; ')}`;
        out.errors.push({ message, err: new Error(message) });
        break;
      }
    }
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    out.errors.push({ message: e.message, err: e });
  }
  out.durationMs = Math.round((performance.now() - started) * 10) / 10;
  return out;
}

function sameSteps(a: Plan, b: Plan): boolean {
  return a.steps.length === b.steps.length && JSON.stringify(a.steps) === JSON.stringify(b.steps);
}
