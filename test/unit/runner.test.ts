import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CommandError, CommandRunner, spawnFailure } from '../../src/kernel/runner.js';

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

/** The one process runner, on harmless commands (no network, no files). */
describe('CommandRunner', () => {
  const runner = new CommandRunner(pino({ level: 'silent' }));

  it('returns stdout and feeds the input', async () => {
    expect(await runner.run('cat', [], { input: 'line one\nline two\n' })).toBe('line one\nline two\n');
    expect(await runner.run('sh', ['-c', 'echo "$LC_ALL"'])).toBe('C\n');
  });

  it('a failure carries the command, exit code, stderr and input', async () => {
    const err = await runner.run('sh', ['-c', 'echo oops >&2; exit 3'], { input: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(err).toMatchObject({ command: 'sh -c echo oops >&2; exit 3', exitCode: 3, stderr: 'oops\n', input: 'x' });
    expect((err as Error).message).toBe('sh -c echo oops >&2; exit 3 failed (exit 3): oops');
  });

  it('says when the command does not exist', async () => {
    const err = await runner.run('vxmesh-no-such-tool', ['x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: undefined, stderr: 'vxmesh-no-such-tool: command not found' });
  });

  it('kills a command that outlives its timeout', async () => {
    const t0 = Date.now();
    const err = await runner.run('sleep', ['10'], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ stderr: 'timed out after 200 ms' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('survives a command that exits without reading a large input', async () => {
    await expect(runner.run('true', [], { input: 'x'.repeat(4 * 1024 * 1024) })).resolves.toBe('');
  });
});

describe('CommandRunner and a PATH that holds directories it cannot use', () => {
  const runner = new CommandRunner(pino({ level: 'silent' }));

  it('a command that is nowhere on PATH is "not found", not EACCES, when a PATH directory cannot be searched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-path-'));
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o700 });
    const saved = process.env.PATH;
    try {
      // The premise, on the real kernel: for a user who cannot search `locked`, execvp fails
      // with EACCES rather than ENOENT although the command exists nowhere.
      const code = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', "require('child_process').spawn('vxmesh-no-such-tool').on('error', (e) => console.log(e.code))"], {
        env: { PATH: `${locked}:/usr/bin:/bin` },
      });
      expect(code.stdout.trim()).toBe('EACCES');
      const eacces = Object.assign(new Error('spawn vxmesh-no-such-tool EACCES'), { code: 'EACCES' });
      process.env.PATH = `${locked}:/usr/bin:/bin`;
      expect(spawnFailure('vxmesh-no-such-tool', eacces)).toMatch(/^vxmesh-no-such-tool: command not found/);
    } finally {
      process.env.PATH = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a command that is on PATH without execute permission says which file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-path-'));
    writeFileSync(join(dir, 'vxmesh-tool'), '#!/bin/sh\n', { mode: 0o644 });
    const saved = process.env.PATH;
    try {
      process.env.PATH = `${dir}:/usr/bin:/bin`;
      const err = await runner.run('vxmesh-tool', []).catch((e: unknown) => e);
      expect(err).toMatchObject({ stderr: `cannot start vxmesh-tool: ${join(dir, 'vxmesh-tool')} is not executable (EACCES)` });
    } finally {
      process.env.PATH = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
