import { execa, type ResultPromise } from 'execa';
import type { Logger } from 'pino';

/**
 * Long-running `ip monitor link address` (someone deleted vxlan3, the underlay address
 * appeared) and `nft monitor` (someone flushed the ebtables chain): each event calls
 * `onEvent`. Restarted if it dies.
 */
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
  }

  private spawn(file: string, args: string[]): void {
    if (this.closed) return;
    const proc = execa(file, args, { buffer: false, reject: false, stdin: 'ignore', stderr: 'ignore' });
    this.procs.push(proc);
    proc.stdout?.on('data', () => this.onEvent(file));
    void proc.then((r) => {
      this.procs = this.procs.filter((p) => p !== proc);
      if (this.closed) return;
      if (r.code === 'ENOENT') {
        this.log.warn({ command: file }, `${file} not found: changes it would report are seen only at the periodic resync`);
        return;
      }
      this.log.warn({ command: [file, ...args].join(' '), exitCode: r.exitCode }, 'monitor exited; restarting');
      setTimeout(() => this.spawn(file, args), 1000).unref();
    });
  }

  close(): void {
    this.closed = true;
    for (const p of this.procs) p.kill();
  }
}
