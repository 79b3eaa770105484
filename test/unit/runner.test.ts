import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CommandError, CommandRunner } from '../../src/kernel/runner.js';

/** This process's open-file limit as [soft, hard], from /proc. */
function nofileLimit(): [string, string] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!m) throw new Error('no "Max open files" in /proc/self/limits');
  return [m[1]!, m[2]!];
}

describe('command runner out of file descriptors', () => {
  it('a spawn that hits EMFILE is a CommandError with the reason, and the process lives on', async () => {
    const runner = new CommandRunner(pino({ level: 'silent' }));
    const [soft, hard] = nofileLimit();
    // Only this test's own process: a soft limit a little above what it has open, so using
    // up the rest is quick, then back to what it was.
    const inUse = readdirSync('/proc/self/fd').length;
    await execa('prlimit', ['--pid', String(process.pid), `--nofile=${inUse + 32}:${hard}`]);
    const fds: number[] = [];
    let outcome: unknown;
    try {
      try {
        for (let i = 0; i < 10_000; i++) fds.push(openSync('/dev/null', 'r'));
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('EMFILE');
      }
      outcome = await runner.run('true', []).then(
        () => 'ran',
        (err: unknown) => err,
      );
      await new Promise((r) => setTimeout(r, 200)); // an unhandled 'error' event would surface here
    } finally {
      for (const fd of fds) closeSync(fd);
      await execa('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${hard}`]);
    }
    expect(outcome).toBeInstanceOf(CommandError);
    expect((outcome as CommandError).message).toBe('true failed: cannot start true: too many open files (EMFILE)');
    expect(await runner.run('echo', ['ok'])).toBe('ok\n');
  });
});
