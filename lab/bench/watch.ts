import type { ResultPromise } from 'execa';
import { parseEbtablesChains } from '../../src/kernel/parse.js';
import { CHAIN, DEFAULT_BRIDGE } from '../../src/model/names.js';
import { nsRun, sleep, type NetnsRegistry } from '../harness/netns.js';
import { LAB_EBTABLES } from '../harness/netns-lab.js';

/**
 * Times kernel state changes in a namespace without busy polling: `ip monitor link` runs in
 * the namespace, every event triggers a check, and the moment of completion is the arrival
 * of the last event before the check that passed (so the time the check itself takes is
 * not counted). A slow poll backs it up in case an event is missed.
 */
export class LinkWatcher {
  private procs: ResultPromise[] = [];
  private lastEvent = 0;
  private seq = 0;
  private wake: (() => void) | undefined;

  /** `monitors`: the event sources; link events by default, `bridge monitor fdb` too for flood lists. */
  constructor(
    private readonly reg: NetnsRegistry,
    readonly ns: string,
    private readonly monitors: string[][] = [['ip', 'monitor', 'link']],
  ) {}

  async start(): Promise<void> {
    for (const argv of this.monitors) {
      const p = this.reg.spawn(this.ns, argv, { pipe: true });
      p.stdout?.on('data', () => {
        this.lastEvent = performance.now();
        this.seq++;
        this.wake?.();
      });
      this.procs.push(p);
    }
    await sleep(150);
  }

  async close(): Promise<void> {
    const procs = this.procs;
    this.procs = [];
    for (const p of procs) await this.reg.kill(p);
  }

  /** Resolves with the completion time (performance.now() scale), at least `since`. */
  async waitUntil(what: string, check: () => Promise<boolean>, since: number, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seqBefore = this.seq;
      const evt = this.lastEvent;
      const checkStart = performance.now();
      let ok = false;
      try {
        ok = await check();
      } catch {
        ok = false;
      }
      if (ok) return Math.max(since, evt > since ? evt : checkStart);
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${this.ns}`);
      if (this.seq === seqBefore) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, 250);
          function done() {
            clearTimeout(t);
            resolve();
          }
          this.wake = done;
        });
        this.wake = undefined;
      }
    }
  }
}

interface PortJson {
  ifname: string;
  flags?: string[];
}

/** VXLAN ports of `bridge` that are up, by name. */
export async function upVxlanPorts(ns: string, bridge = DEFAULT_BRIDGE): Promise<Set<string>> {
  const out = await nsRun(ns, ['ip', '-j', 'link', 'show', 'master', bridge]);
  const ports = JSON.parse(out || '[]') as PortJson[];
  return new Set(ports.filter((p) => p.ifname.startsWith('vxlan') && (p.flags ?? []).includes('UP')).map((p) => p.ifname));
}

/** ebtables filter table rules, per chain. */
export async function ebtablesRules(ns: string): Promise<{ forward: string[]; vxmesh: string[] }> {
  const chains = parseEbtablesChains(await nsRun(ns, [LAB_EBTABLES.save, '-t', 'filter']));
  return {
    forward: (chains.get('FORWARD') ?? []).map((r) => `-A FORWARD ${r}`),
    vxmesh: (chains.get(CHAIN) ?? []).map((r) => `-A ${CHAIN} ${r}`),
  };
}
