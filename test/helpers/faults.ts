import { expect } from 'vitest';
import { chainRules, ns, peersYaml, statusJson, waitFor, waitForConverged, type Lab, type Server } from './lab.js';

/** The chain of a healthy 2-server mesh: the gate and the one port's rule. */
export const TWO_SERVER_CHAIN = ['-o ! vxlan+ -j RETURN', '-i vxlan2 -o vxlan+ -j DROP'];

export async function chainRestored(s: Server): Promise<boolean | string> {
  const rules = await chainRules(s.ns);
  return JSON.stringify(rules) === JSON.stringify(TWO_SERVER_CHAIN) || `chain: ${JSON.stringify(rules)}`;
}

/** Flush VXMESH on a 2-server mesh's server and return how long the daemon took to restore it. */
export async function flushAndTimeRepair(s: Server, what: string, timeoutMs: number): Promise<number> {
  expect(await chainRestored(s)).toBe(true);
  // No read-back of the empty chain here: an event-driven repair can beat the next spawn.
  await ns(s.ns, 'ebtables', '-t', 'filter', '-F', 'VXMESH');
  const took = await waitFor(`${s.ns} chain restored (${what})`, () => chainRestored(s), timeoutMs, 20);
  console.info(`${what}: chain restored ${took} ms after the flush`);
  return took;
}

export function daemonAlive(s: Server): boolean {
  const d = s.proc;
  if (!d?.pid || d.exitCode !== null) return false;
  try {
    process.kill(d.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Two servers whose first daemon resyncs only every 300 s, so within a test's window only
 * events (and monitor restarts) can repair. Nothing else may send a kernel event inside the
 * window either: some 10-15 s after a VXLAN port comes up the kernel announces its link once
 * more (seen with `ip monitor` in these namespaces), and that event would repair for an
 * unrelated reason. So this returns 20 s after the mesh converged, with its first reconcile done.
 */
const QUIET_AFTER_CONVERGED_MS = 20_000;

export async function quietTwoServerMesh(lab: Lab): Promise<[Server, Server]> {
  await lab.init();
  const s1 = await lab.addServer(1);
  const s2 = await lab.addServer(2);
  for (const s of [s1, s2]) lab.writeConfig(s, peersYaml(lab.servers));
  lab.startDaemon(s1, ['--resync', '300']);
  lab.startDaemon(s2);
  for (const s of [s1, s2]) await waitForConverged(s, 1);
  const convergedAt = Date.now();
  await waitFor(`${s1.ns}: first reconcile reported`, async () => {
    const st = await statusJson(s1);
    return (st.lastReconcile !== null && st.state === 'running') || `state ${st.state}, last reconcile ${JSON.stringify(st.lastReconcile)}`;
  }, 30_000, 100);
  await new Promise((r) => setTimeout(r, Math.max(3000, QUIET_AFTER_CONVERGED_MS - (Date.now() - convergedAt))));
  return [s1, s2];
}
