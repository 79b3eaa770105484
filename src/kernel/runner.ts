import { spawn } from 'node:child_process';
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

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

/**
 * The only place vxmesh starts processes. Never through a shell: arguments go as a list.
 * Plain node:child_process: the daemon runs a handful of short commands per reconcile, and
 * execa cost ~170 ms of every start to load (measured here) for nothing it needs.
 */
export class CommandRunner implements Runner {
  constructor(private readonly log: Logger) {}

  run(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const command = [file, ...args].join(' ');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = performance.now();
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const fail = (exitCode: number | undefined, stderr: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new CommandError(command, exitCode, stderr, opts.input));
      };
      const child = spawn(file, args, { env: { ...process.env, LC_ALL: 'C' }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(undefined, `timed out after ${timeoutMs} ms`);
      }, timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_OUTPUT_BYTES) {
          child.kill('SIGKILL');
          fail(undefined, `output larger than ${MAX_OUTPUT_BYTES} bytes`);
          return;
        }
        out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', (e: NodeJS.ErrnoException) => fail(undefined, e.code === 'ENOENT' ? `${file}: command not found` : e.message));
      child.on('close', (code, signal) => {
        const stdout = Buffer.concat(out).toString('utf8');
        if (code !== 0) {
          fail(code ?? undefined, Buffer.concat(err).toString('utf8') || stdout || `killed by ${signal ?? 'a signal'}`);
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.log.trace({ command, durationMs: Math.round(performance.now() - started) }, 'ran');
        resolve(stdout);
      });
      // A command that exits without reading its input (a usage error) must not crash us.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }
}
