import type { Runner } from './runner.js';
import type { Plan } from '../plan/plan.js';

/**
 * Run a plan's steps in order, one process each, and return every error. A failed step does
 * not stop the ones after it, except that a step that needs loop safety (a port joining the
 * bridge) runs only when every loop-guarding step before it succeeded. The caller re-observes
 * and re-plans rather than trusting what got done.
 */
export async function applyPlan(runner: Runner, plan: Plan): Promise<Error[]> {
  const errors: Error[] = [];
  let loopSafe = true;
  for (const step of plan.steps) {
    if (step.needsLoopSafety && !loopSafe) continue;
    try {
      await runner.run(step.tool, step.args, step.input === undefined ? {} : { input: step.input });
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
      if (step.guardsLoops) loopSafe = false;
    }
  }
  return errors;
}
