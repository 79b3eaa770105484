import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';

/**
 * Long-running `ip monitor link address` (someone deleted vxlan3, the underlay address
 * appeared) and `nft monitor` (someone flushed the ebtables chain): each relevant event calls
 * `onEvent`. nft events are filtered to the tables vxmesh cares about, so a busy firewall
 * (Docker, kube-proxy) does not keep the daemon reconciling. Restarted with backoff if it dies.
 */
const RELEVANT: Record<string, RegExp | undefined> = {
  nft: /\bbridge filter\b|\binet vxmesh\b/,
};
export class KernelMonitor {
  private procs: ChildProcess[] = [];
  private closed = false;
  private readonly running = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly onEvent: (source: string) => void,
  ) {}

  start(): void {
    this.spawn('ip', ['monitor', 'link', 'address']);
    this.spawn('nft', ['monitor', 'ruleset']);
  }

  private spawn(file: string, args: string[], restarts = 0): void {
    if (this.closed) return;
    const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    this.procs.push(proc);
    this.running.add(file);
    const relevant = RELEVANT[file];
    let partial = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.some((l) => !relevant || relevant.test(l))) this.onEvent(file);
    });
    const started = Date.now();
    let missing = false;
    proc.on('error', (err: NodeJS.ErrnoException) => {
      missing = err.code === 'ENOENT';
    });
    proc.on('close', (exitCode) => {
      this.procs = this.procs.filter((p) => p !== proc);
      this.running.delete(file);
      if (this.closed) return;
      // Whatever happened while it was down went unseen: report it as an event.
      this.onEvent(file);
      if (missing) {
        this.log.warn({ command: file }, `${file} not found: changes it would report are seen only at the periodic resync`);
        return;
      }
      // A monitor that dies at once (not permitted, say) is retried ever more slowly, up to 5 min.
      const next = Date.now() - started > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(300_000, 1000 * 2 ** next);
      this.log.warn({ command: [file, ...args].join(' '), exitCode, retryInMs: delay }, 'monitor exited; restarting');
      setTimeout(() => this.spawn(file, args, next), delay).unref();
    });
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
