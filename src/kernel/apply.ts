import { CommandError, type Runner } from './runner.js';
import { commandOf, redactedInput, type Plan, type Step } from '../plan/plan.js';
import type { EbtablesBackend } from '../model/ebtables.js';

/**
 * Run a plan's steps in order, one process each, and return every error. A failed step does
 * not stop the ones after it, except that a step that needs loop safety (a port joining the
 * bridge) runs only when every loop-guarding step before it succeeded. ebtables steps run the
 * commands of `eb`, the backend probed at start. The caller re-observes and re-plans rather
 * than trusting what got done.
 */
export async function applyPlan(runner: Runner, plan: Plan, eb: EbtablesBackend | undefined): Promise<Error[]> {
  const errors: Error[] = [];
  let loopSafe = true;
  for (const step of plan.steps) {
    if (step.needsLoopSafety && !loopSafe) continue;
    if ((step.tool === 'ebtables' || step.tool === 'ebtables-restore') && !eb) {
      // The planner holds ports back without a backend; this keeps the order if it ever does not.
      errors.push(new Error('ebtables work planned but no working ebtables backend'));
      if (step.guardsLoops) loopSafe = false;
      continue;
    }
    try {
      await runner.run(commandOf(step, eb), step.args, step.input === undefined ? {} : { input: step.input });
    } catch (err) {
      errors.push(redact(step, err instanceof Error ? err : new Error(String(err))));
      if (step.guardsLoops) loopSafe = false;
    }
  }
  return errors;
}

/** A secret step's error without its input: errors go to the log and to status. */
function redact(step: Step, err: Error): Error {
  if (!step.secret || !(err instanceof CommandError) || err.input === undefined) return err;
  return new CommandError(err.command, err.exitCode, err.stderr, redactedInput(err.input));
}
