import { execa } from 'execa';
import type { Logger } from 'pino';

/** A command that failed, with everything an operator needs to see why. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly input: string | undefined,
  ) {
    super(`${command} failed${exitCode !== undefined ? ` (exit ${exitCode})` : ''}: ${stderr.trim() || 'no error output'}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

/**
 * What reconcile, observe and apply need to run a command: its standard output, or a thrown
 * CommandError. The daemon uses CommandRunner; unit tests a strict fake.
 */
export interface Runner {
  run(file: string, args: string[], opts?: RunOptions): Promise<string>;
}

/** The only place vxmesh starts processes. Never through a shell: arguments go as a list. */
export class CommandRunner implements Runner {
  constructor(private readonly log: Logger) {}

  async run(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const command = [file, ...args].join(' ');
    const started = performance.now();
    const r = await execa(file, args, {
      input: opts.input ?? '',
      timeout: opts.timeoutMs ?? 30_000,
      reject: false,
      stripFinalNewline: false,
      env: { LC_ALL: 'C' },
      maxBuffer: 512 * 1024 * 1024,
    });
    if (r.failed) {
      const stderr = r.code === 'ENOENT' ? `${file}: command not found` : r.timedOut ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : String(r.stderr || r.stdout || r.message);
      throw new CommandError(command, r.exitCode, stderr, opts.input);
    }
    this.log.trace({ command, durationMs: Math.round(performance.now() - started) }, 'ran');
    return String(r.stdout);
  }
}
