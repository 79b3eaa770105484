import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CommandError, CommandRunner } from '../../src/kernel/runner.js';

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
