import type { ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { spawnChild, spawnFailure } from './runner.js';
import { IpMonitorFilter } from './monitor-filter.js';

/**
 * Long-running `ip monitor link address` (someone deleted vxlan3, the underlay address
 * appeared), `nft monitor` (someone flushed the ebtables chain) and `bridge monitor fdb`
 * (someone deleted a flood-list entry): each relevant event calls
 * `onEvent`. nft events are filtered to the tables vxmesh cares about, so a busy firewall
 * (Docker, kube-proxy) does not keep the daemon reconciling; `ip` events to the interfaces
 * vxmesh owns or wants (`watch`), so a busy container host does not either. Restarted with backoff if it dies.
 * Every (re)start also calls `onEvent`: what changed while no monitor was listening is seen
 * only by a full sync.
 */
const RELEVANT: Record<string, RegExp | undefined> = {
  nft: /\bbridge filter\b|\binet vxmesh\b/,
  // Only all-zero entries (flood lists) matter: learned MACs come and go with every container.
  bridge: /(^|\s)00:00:00:00:00:00 dev /,
};
/** Time for a fresh monitor to subscribe to netlink before the sync that covers its gap reads the kernel. */
const SUBSCRIBE_MS = 100;

export class KernelMonitor {
  private procs: ChildProcess[] = [];
  private readonly running = new Set<string>();
  private closed = false;
  private readonly ipFilter = new IpMonitorFilter();

  constructor(
    private readonly log: Logger,
    private readonly onEvent: (source: string) => void,
  ) {}

  start(): void {
    this.spawn('ip', ['monitor', 'link', 'address']);
    this.spawn('nft', ['monitor', 'ruleset']);
    // `ip monitor` reports no fdb events: someone deleting a flood-list entry shows only here.
    this.spawn('bridge', ['monitor', 'fdb']);
  }

  private spawn(file: string, args: string[], restarts = 0): void {
    if (this.closed) return;
    const command = [file, ...args].join(' ');
    const started = Date.now();
    let ended = false;
    const restart = (detail: Record<string, unknown>) => {
      if (ended) return;
      ended = true;
      this.running.delete(file);
      if (this.closed) return;
      // A monitor that dies at once (not permitted, out of file descriptors) is retried ever more slowly, up to 5 min.
      const next = Date.now() - started > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(300_000, 1000 * 2 ** next);
      this.log.warn({ command, ...detail, retryInMs: delay }, 'monitor exited; restarting');
      setTimeout(() => this.spawn(file, args, next), delay).unref();
    };
    const s = spawnChild(file, args, ['ignore', 'pipe', 'ignore']);
    if ('error' in s) {
      restart({ error: s.error });
      return;
    }
    const proc = s.child;
    this.procs.push(proc);
    const relevant = RELEVANT[file];
    const matters = file === 'ip' ? (l: string) => this.ipFilter.matters(l) : (l: string) => !relevant || relevant.test(l);
    let partial = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.some(matters)) this.onEvent(file);
    });
    proc.on('spawn', () => {
      this.log.debug({ command }, 'monitor started; requesting a sync');
      setTimeout(() => {
        if (this.closed || ended) return;
        this.running.add(file);
        this.onEvent(file);
      }, SUBSCRIBE_MS).unref();
    });
    proc.on('error', (err) => {
      this.procs = this.procs.filter((p) => p !== proc);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        ended = true;
        this.running.delete(file);
        if (!this.closed) this.log.warn({ command: file }, `${file} not found: changes it would report are seen only at the periodic resync`);
        return;
      }
      restart({ error: spawnFailure(file, err) });
    });
    proc.on('close', (code, signal) => {
      this.procs = this.procs.filter((p) => p !== proc);
      restart({ exitCode: code, signal });
    });
  }

  /**
   * The interfaces whose link and address events matter (vxmesh's devices, the bridge, the
   * underlay); undefined: all of them, until a reconcile has read the kernel.
   */
  watch(names: Iterable<string> | undefined): void {
    this.ipFilter.watch(names);
  }

  /** Whether the `file` monitor (`ip`, `nft`) is running now, so its silence means "nothing changed". */
  isWatching(file: string): boolean {
    return this.running.has(file);
  }

  close(): void {
    this.closed = true;
    for (const p of this.procs) p.kill();
  }
}
