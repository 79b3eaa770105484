import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
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
  /** The commands running now and for how long (ms), for status: a stuck one is named. */
  inFlight?(): { command: string; ms: number }[];
}

/**
 * `runner` with every command ending by `deadline` (performance.now() time): its timeout is cut
 * to the time left, and a command asked for after the deadline fails without starting. One
 * reconcile's commands share one deadline, so a child stuck in the kernel cannot stop the queue.
 */
export function withDeadline(runner: Runner, deadline: number | undefined, what = 'reconcile'): Runner {
  if (deadline === undefined) return runner;
  return {
    run: (file, args, opts = {}) => {
      const left = Math.floor(deadline - performance.now());
      if (left <= 0) return Promise.reject(new CommandError([file, ...args].join(' '), undefined, `not started: the ${what} deadline has passed`, opts.input));
      return runner.run(file, args, { ...opts, timeoutMs: Math.min(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, left) });
    },
    inFlight: runner.inFlight?.bind(runner),
  };
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** After a timeout's SIGTERM, SIGKILL follows this much later. */
const KILL_GRACE_MS = 2000;
/** A child that SIGKILL does not end (stuck in the kernel) is abandoned this much later. */
const ABANDON_MS = 1000;
const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;

/**
 * Starts a process with errors as events only, never thrown: a spawn that fails (EMFILE when
 * the daemon is out of file descriptors, EAGAIN, ENOENT) must be a failed step, not a crash.
 * execa 9 throws "subprocess.stdio is not iterable" on EMFILE and leaves the child's 'error'
 * event unhandled, which kills the process; node's own spawn reports it as an 'error' event.
 */
export function spawnChild(file: string, args: string[], stdio: StdioOptions): { child: ChildProcess } | { error: string } {
  try {
    const child = spawn(file, args, { stdio, env: { ...process.env, LC_ALL: 'C' } });
    return { child };
  } catch (err) {
    return { error: spawnFailure(file, err) };
  }
}

/** Why a process could not be started, in words. */
export function spawnFailure(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `${file}: command not found`;
    case 'EACCES':
      return accessFailure(file);
    case 'EMFILE':
    case 'ENFILE':
      return `cannot start ${file}: too many open files (${code})`;
    case 'EAGAIN':
      return `cannot start ${file}: process limit reached (EAGAIN)`;
    default:
      return `cannot start ${file}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * execvp reports EACCES when a PATH directory cannot be searched and the command is in none of
 * the others: that is "not found", and the directory in the way is worth naming. EACCES stays
 * EACCES where some PATH entry really holds the command without execute permission.
 */
function accessFailure(file: string, path = process.env.PATH ?? ''): string {
  if (file.includes('/')) return `cannot start ${file}: permission denied (EACCES)`;
  const unreadable: string[] = [];
  for (const dir of path.split(delimiter).filter(Boolean)) {
    try {
      accessSync(dir, constants.X_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') unreadable.push(dir);
      continue;
    }
    try {
      accessSync(join(dir, file), constants.F_OK);
      return `cannot start ${file}: ${join(dir, file)} is not executable (EACCES)`;
    } catch {
      // not in this directory
    }
  }
  return `${file}: command not found${unreadable.length ? ` (PATH directories that cannot be searched: ${unreadable.join(', ')})` : ''}`;
}

/**
 * The only place vxmesh starts processes. Never through a shell: arguments go as a list.
 * Plain node:child_process: the daemon runs a handful of short commands per reconcile, and
 * execa cost ~170 ms of every start to load (measured here) for nothing it needs.
 */
export class CommandRunner implements Runner {
  private readonly running = new Map<number, { command: string; since: number }>();
  private seq = 0;

  constructor(private readonly log: Logger) {}

  inFlight(): { command: string; ms: number }[] {
    const now = performance.now();
    return [...this.running.values()].map((r) => ({ command: r.command, ms: Math.round(now - r.since) }));
  }

  async run(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const command = [file, ...args].join(' ');
    const started = performance.now();
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const id = ++this.seq;
    this.running.set(id, { command, since: started });
    const r = await runToEnd(file, args, opts.input ?? '', timeoutMs).finally(() => this.running.delete(id));
    if (r.failure !== undefined) throw new CommandError(command, r.exitCode, r.failure, opts.input);
    this.log.trace({ command, durationMs: Math.round(performance.now() - started) }, 'ran');
    return r.stdout;
  }
}

interface RunResult {
  stdout: string;
  exitCode: number | undefined;
  /** Set when the command failed: its stderr, or why it could not run. */
  failure: string | undefined;
}

function runToEnd(file: string, args: string[], input: string, timeoutMs: number): Promise<RunResult> {
  return new Promise<RunResult>((resolve) => {
    const started = spawnChild(file, args, ['pipe', 'pipe', 'pipe']);
    if ('error' in started) {
      resolve({ stdout: '', exitCode: undefined, failure: started.error });
      return;
    }
    const { child } = started;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let why: string | undefined;
    let settled = false;
    const finish = (r: RunResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killer);
      resolve(r);
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) {
        why ??= `output over ${MAX_OUTPUT_BYTES} bytes`;
        child.kill('SIGKILL');
        return;
      }
      into.push(chunk);
    };
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      why ??= `timed out after ${timeoutMs} ms`;
      child.kill('SIGTERM');
      killer = setTimeout(() => {
        child.kill('SIGKILL');
        // Uninterruptible sleep holds even SIGKILL: the run ends anyway, the child is left.
        killer = setTimeout(() => finish({ stdout: '', exitCode: undefined, failure: `${why} (and did not exit after SIGKILL)` }), ABANDON_MS);
        killer.unref();
      }, KILL_GRACE_MS);
      killer.unref();
    }, timeoutMs);
    // On EMFILE node emits 'error' and leaves the pipes unset.
    child.stdout?.on('data', collect(out));
    child.stderr?.on('data', collect(err));
    child.stdin?.on('error', () => undefined); // EPIPE when the command exits without reading
    child.stdin?.end(input);
    child.on('error', (e) => finish({ stdout: '', exitCode: undefined, failure: spawnFailure(file, e) }));
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (why === undefined && code === 0) {
        finish({ stdout, exitCode: 0, failure: undefined });
        return;
      }
      const failure = why ?? (stderr || stdout || (signal ? `killed by ${signal}` : `exit ${code}`));
      finish({ stdout, exitCode: code ?? undefined, failure });
    });
  });
}
