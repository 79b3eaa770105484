import { CommandError, type Runner } from './runner.js';
import { parseRunningConfig, vtyshArgs } from '../evpn/frr-config.js';
import type { FrrState } from '../model/frr.js';

/** Read FRR with one vtysh run (never throws: an unreachable FRR is a state, not an error). */
export async function observeFrr(runner: Runner, pathspace: string | undefined): Promise<FrrState> {
  try {
    const out = await runner.run('vtysh', [...vtyshArgs(pathspace), '-c', 'show daemons', '-c', 'show running-config'], { timeoutMs: 10_000 });
    return parseFrrRead(out);
  } catch (err) {
    const error = err instanceof CommandError ? err.message : err instanceof Error ? err.message : String(err);
    return { reachable: false, error, daemons: [], running: undefined };
  }
}

/** Pure: the output of `show daemons` followed by `show running-config`. */
export function parseFrrRead(out: string): FrrState {
  const at = out.indexOf('Building configuration...');
  const head = at < 0 ? out : out.slice(0, at);
  const daemons = head.split(/\s+/).filter((w) => /^[a-z0-9]+d$|^zebra$/.test(w));
  return { reachable: true, error: undefined, daemons, running: parseRunningConfig(at < 0 ? '' : out.slice(at)) };
}
