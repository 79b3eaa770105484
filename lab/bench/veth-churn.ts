/**
 * A mesh host that is also a busy container host: thousands of veths that are not vxmesh's,
 * some of them coming and going every second (containers starting and stopping). What the
 * daemon pays for them is measured beside the same mesh without them, in one run.
 */
import { idleCostOf } from './measure.js';
import { nsRun, sleep, type NetnsRegistry } from '../harness/netns.js';
import { HTTP_BATCH_JS } from '../harness/paths.js';
import type { LiveHost } from './measure.js';

export interface ChurnPhase {
  label: string;
  cpuSecPerMin: number;
  reconcilesPerSec: number;
  windowS: number;
}

export interface ChurnResult {
  veths: number;
  churnPerSec: number;
  phases: ChurnPhase[];
}

async function reconciles(h: LiveHost): Promise<number> {
  const spec = { base: 'http://127.0.0.1:7789', requests: [{ path: '/status' }] };
  const out = await nsRun(h.host, [process.execPath, HTTP_BATCH_JS, JSON.stringify(spec)]);
  const body = JSON.parse((JSON.parse(out) as { results: { body: string }[] }).results[0]!.body) as { counters: { reconciles: number } };
  return body.counters.reconciles;
}

async function phase(h: LiveHost, label: string, windowMs: number): Promise<ChurnPhase> {
  const pid = h.daemon.proc?.pid;
  if (!pid) throw new Error('daemon not running');
  const r0 = await reconciles(h);
  const cost = await idleCostOf(pid, windowMs);
  const r1 = await reconciles(h);
  return { label, cpuSecPerMin: cost.cpuSecPerMin, reconcilesPerSec: (r1 - r0) / cost.windowS, windowS: cost.windowS };
}

/** `ip -batch` lines for veth k: its host end `vc<k>` up in the mesh host, its peer in `containers`. */
function vethLines(k: number, containers: string): string[] {
  return [`link add vc${k} type veth peer name p${k} netns ${containers}`, `link set vc${k} up`];
}

/**
 * Three phases on one live host: the mesh alone, then with `veths` unrelated veths standing,
 * then with `churnPerSec` of them deleted and made again every second. Bounded: the churn
 * stops with its window; the veths go with their namespaces.
 */
export async function vethChurn(reg: NetnsRegistry, h: LiveHost, opts: { veths: number; churnPerSec: number; windowMs: number }): Promise<ChurnResult> {
  const phases = [await phase(h, 'mesh alone', opts.windowMs)];
  const containers = await reg.addNs(reg.name('vc'));
  try {
    const lines: string[] = [];
    for (let k = 0; k < opts.veths; k++) lines.push(...vethLines(k, containers));
    await nsRun(h.host, ['ip', '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 300_000 });
    await sleep(3000); // the reconciles the veths' arrival triggered
    phases.push(await phase(h, `+ ${opts.veths} veths standing`, opts.windowMs));
    let stop = false;
    let k = 0;
    const churn = (async () => {
      // Each tick replaces `churnPerSec / 10` veths: ten ticks a second, a steady stream.
      const perTick = Math.max(1, Math.round(opts.churnPerSec / 10));
      while (!stop) {
        const t0 = performance.now();
        const batch: string[] = [];
        for (let i = 0; i < perTick; i++, k = (k + 1) % opts.veths) batch.push(`link del vc${k}`, ...vethLines(k, containers));
        await nsRun(h.host, ['ip', '-batch', '-'], { input: batch.join('\n') + '\n' });
        await sleep(Math.max(0, 100 - (performance.now() - t0)));
      }
    })();
    try {
      phases.push(await phase(h, `+ ${opts.veths} veths, ${opts.churnPerSec}/s replaced`, opts.windowMs));
    } finally {
      stop = true;
      await churn;
    }
  } finally {
    await reg.delNs(containers);
  }
  return { veths: opts.veths, churnPerSec: opts.churnPerSec, phases };
}
