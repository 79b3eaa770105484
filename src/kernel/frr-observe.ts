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

/** The control plane's JSON reads for status (three vtysh runs, side by side; never throws). */
export async function readEvpn(runner: Runner, pathspace: string | undefined): Promise<{ summary: string | undefined; vni: string | undefined; macs: string | undefined; error: string | undefined }> {
  const errors: string[] = [];
  const one = (cmd: string) =>
    runner.run('vtysh', [...vtyshArgs(pathspace), '-c', cmd], { timeoutMs: 5000 }).catch((err: unknown) => {
      errors.push(err instanceof Error ? err.message : String(err));
      return undefined;
    });
  const [summary, vni, macs] = await Promise.all([one('show bgp l2vpn evpn summary json'), one('show evpn vni json'), one('show evpn mac vni all json')]);
  return { summary, vni, macs, error: errors[0] };
}
