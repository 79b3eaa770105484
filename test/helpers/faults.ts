import { expect } from 'vitest';
import { buildMesh, chainRules, ns, statusJson, waitFor, waitForConverged, type Lab, type Server } from './lab.js';

/** The chain of a healthy 2-server mesh: the gate rule only (one port has no pair). */
export const TWO_SERVER_CHAIN = ['-o ! vxlan+ -j RETURN'];

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
 * events (and monitor restarts) can repair; then a pause for the kernel events of the
 * daemons' own start-up to play out, so no leftover sync repairs for an unrelated reason.
 */
export async function quietTwoServerMesh(lab: Lab): Promise<[Server, Server]> {
  await buildMesh(lab, 2, { containers: false });
  const [s1, s2] = lab.servers as [Server, Server];
  await lab.stopDaemon(s1);
  lab.startDaemon(s1, ['--resync', '300']);
  // The old daemon is gone, so an answer comes from the new one: wait for its first reconcile.
  await waitFor(`${s1.ns}: restarted daemon has reconciled`, async () => {
    const st = await statusJson(s1);
    return (st.lastReconcile !== null && st.state === 'running') || `state ${st.state}, last reconcile ${JSON.stringify(st.lastReconcile)}`;
  }, 30_000, 100);
  await waitForConverged(s1, 1);
  await new Promise((r) => setTimeout(r, 3000));
  return [s1, s2];
}
