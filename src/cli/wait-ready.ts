/**
 * `vxmesh wait-ready`: wait until the daemon's bridge exists and is up with loop prevention
 * in place, as the unit's ExecStartPost= does, so `systemctl start vxmesh` returns only then
 * and units ordered after vxmesh.service (LXD, libvirt, Docker) find the bridge ready.
 * Node cannot send sd_notify datagrams, so readiness is read from the local API instead.
 */
import { parseArgs } from 'node:util';
import { apiGet, formatAddress } from './client.js';
import { EXIT } from './exit-codes.js';
import { UsageError } from './options.js';
import { statusAnswer } from './answers.js';
import { DEFAULT_STATE_DIR, apiSocketPath, resolveRunDir } from '../api/run-dir.js';
import type { StatusReport } from '../daemon/status.js';

export const WAIT_READY_HELP = `Usage: vxmesh wait-ready [--timeout SECONDS] [--state-dir DIR] [--run-dir DIR]
Wait until the daemon has the bridge up with loop prevention in place (or the mesh is
stopped with \`vxmesh stop\`: nothing to wait for). Exit 0 when ready; 1 with the reasons when
not ready within the timeout (default 60) or the config cannot be loaded at all; 3 when the
daemon never answered. It asks the API's Unix socket (DIR/api.sock; default /run/vxmesh, or
the --state-dir when that is not the default). The unit runs it as ExecStartPost=.
`;

const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 5_000;

export type Readiness = { ready: true; summary: string } | { ready: false; final: boolean; why: string };

/** Pure: is the mesh ready for what starts after it? `final`: waiting longer cannot help. */
export function readiness(s: StatusReport): Readiness {
  if (s.state === 'stopped') return { ready: true, summary: 'mesh stopped with `vxmesh stop`: nothing to bring up' };
  // No config ever loaded: the daemon applies nothing until someone fixes the files.
  if (!s.config.loadedAt && s.config.lastError) return { ready: false, final: true, why: `no valid config: ${s.config.lastError.join('; ')}` };
  const lp = s.loopPrevention;
  const missing: string[] = [];
  if (!s.bridge.present) missing.push(`bridge ${s.bridge.name} does not exist`);
  else if (!s.bridge.up) missing.push(`bridge ${s.bridge.name} is down`);
  // Without a bridge there are no ports to protect yet: its absence says it all.
  if (lp.problem && s.bridge.present) missing.push(`loop prevention (${lp.mode}): ${lp.problem}`);
  // Before the first reconcile the daemon has not seen the kernel yet; its report says nothing.
  if (!s.lastReconcile && missing.length === 0) missing.push('first reconcile not done yet');
  if (missing.length === 0) {
    const rules = lp.mode === 'ebtables' ? `${lp.present}/${lp.expected} port rules` : `${lp.present}/${lp.expected} ports isolated`;
    return { ready: true, summary: `bridge ${s.bridge.name} up, loop prevention ${lp.mode} (${rules}), ${s.links.filter((l) => l.attached).length}/${s.links.length} links attached` };
  }
  // The daemon's own reasons, minus those saying the same about the bridge or loop prevention.
  const said = [`bridge ${s.bridge.name}`, ...(lp.problem ? [lp.problem] : [])];
  const others = s.reasons.filter((r) => !said.some((m) => r.includes(m)));
  return { ready: false, final: false, why: [...missing, ...others].join('; ') };
}

export async function waitReady(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        timeout: { type: 'string', default: '60' },
        'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
        'run-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(`wait-ready: ${(err as Error).message}`);
  }
  if (values.help) {
    process.stdout.write(WAIT_READY_HELP);
    return EXIT.ok;
  }
  const timeoutS = Number(values.timeout);
  if (!(timeoutS > 0)) throw new UsageError('wait-ready: --timeout must be a positive number of seconds');
  const api = { socketPath: apiSocketPath(resolveRunDir(values['state-dir'], values['run-dir'])) };
  const started = Date.now();
  const deadline = started + timeoutS * 1000;
  // What the daemon last said is the reason to give; a later request that failed is added to it.
  let said: string | undefined;
  let lastError: string | undefined;
  for (;;) {
    const r = await poll(api, Math.max(500, Math.min(REQUEST_TIMEOUT_MS, deadline - Date.now())));
    if ('status' in r) {
      const ready = readiness(r.status);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      if (ready.ready) {
        process.stdout.write(`vxmesh ready after ${took} s: ${ready.summary}\n`);
        return EXIT.ok;
      }
      said = ready.why;
      lastError = undefined;
      if (ready.final) break;
    } else {
      lastError = r.error;
    }
    // The last look is at the deadline itself, not one poll interval short of it.
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, left)));
  }
  const took = ((Date.now() - started) / 1000).toFixed(1);
  if (said === undefined) {
    process.stderr.write(`vxmesh daemon on ${formatAddress(api)} did not answer within ${took} s: ${lastError}\n`);
    return EXIT.notRunning;
  }
  process.stderr.write(`vxmesh not ready after ${took} s: ${said}${lastError ? ` (then: ${lastError})` : ''}\n`);
  return EXIT.failure;
}

async function poll(api: { socketPath: string }, timeoutMs: number): Promise<{ status: StatusReport } | { error: string }> {
  try {
    return { status: statusAnswer(await apiGet(api, '/status', { timeoutMs }), api.socketPath) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}
