import { CommandError, type RunOptions, type Runner } from '../../../src/kernel/runner.js';

interface Expected {
  command: string;
  /** What the command prints, or the error output it fails with. */
  stdout?: string;
  fail?: string;
  /** A check on the input the command gets. */
  input?: (input: string | undefined) => boolean;
}

/**
 * A strict stand-in for the command runner (after undici's mock agent): each call must be
 * the next expected one, an unexpected call fails, and `verify()` fails when an expected call
 * never came. Nothing runs.
 */
export class StrictRunner implements Runner {
  private readonly expected: Expected[] = [];
  readonly problems: string[] = [];
  readonly calls: { command: string; input: string | undefined }[] = [];

  expect(command: string, reply: Omit<Expected, 'command'> = {}): this {
    this.expected.push({ command, ...reply });
    return this;
  }

  async run(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
    const command = [file, ...args].join(' ');
    this.calls.push({ command, input: opts.input });
    const next = this.expected.shift();
    if (!next || next.command !== command) {
      this.problems.push(`unexpected call: ${command} (expected ${next?.command ?? 'no more calls'})`);
      throw new Error(`strict runner: unexpected call ${command}`);
    }
    if (next.input && !next.input(opts.input)) this.problems.push(`${command}: unexpected input:\n${opts.input}`);
    if (next.fail !== undefined) throw new CommandError(command, 1, next.fail, opts.input);
    return next.stdout ?? '';
  }

  /** Every expected call happened, and nothing else. */
  verify(): string[] {
    return [...this.problems, ...this.expected.map((e) => `expected call never made: ${e.command}`)];
  }
}
