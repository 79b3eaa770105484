import { execa, type ResultPromise } from 'execa';
import type { Logger } from 'pino';

/**
 * Long-running `ip monitor link address` (someone deleted vxlan3, the underlay address
 * appeared), `nft monitor` (someone flushed the ebtables chain) and `bridge monitor fdb`
 * (someone deleted a flood-list entry): each relevant event calls
 * `onEvent`. nft events are filtered to the tables vxmesh cares about, so a busy firewall
 * (Docker, kube-proxy) does not keep the daemon reconciling. Restarted with backoff if it dies.
 */
const RELEVANT: Record<string, RegExp | undefined> = {
  nft: /\bbridge filter\b|\binet vxmesh\b/,
  // Only all-zero entries (flood lists) matter: learned MACs come and go with every container.
  bridge: /(^|\s)00:00:00:00:00:00 dev /,
};
export class KernelMonitor {
  private procs: ResultPromise[] = [];
  private closed = false;

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
    const proc = execa(file, args, { buffer: false, reject: false, stdin: 'ignore', stderr: 'ignore' });
    this.procs.push(proc);
    const relevant = RELEVANT[file];
    let partial = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.some((l) => !relevant || relevant.test(l))) this.onEvent(file);
    });
    const started = Date.now();
    void proc.then((r) => {
      this.procs = this.procs.filter((p) => p !== proc);
      if (this.closed) return;
      if (r.code === 'ENOENT') {
        this.log.warn({ command: file }, `${file} not found: changes it would report are seen only at the periodic resync`);
        return;
      }
      // A monitor that dies at once (not permitted, say) is retried ever more slowly, up to 5 min.
      const next = Date.now() - started > 60_000 ? 0 : restarts + 1;
      const delay = Math.min(300_000, 1000 * 2 ** next);
      this.log.warn({ command: [file, ...args].join(' '), exitCode: r.exitCode, retryInMs: delay }, 'monitor exited; restarting');
      setTimeout(() => this.spawn(file, args, next), delay).unref();
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.procs) p.kill();
  }
}
