import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The compiled runner (npm test builds first), so a separate process can run out of fds alone.
const RUNNER = resolve('dist/kernel/runner.js');

/** Opens files until EMFILE, then runs `true` through the CommandRunner; prints what happened. */
const SCRIPT = `
import { openSync, closeSync } from 'node:fs';
const { CommandRunner, CommandError } = await import(process.argv[1]);
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };
const runner = new CommandRunner(silent);
const fds = [];
try { for (let i = 0; i < 100000; i++) fds.push(openSync('/dev/null', 'r')); } catch {}
let outcome;
try { await runner.run('true', []); outcome = 'ran'; } catch (e) { outcome = (e instanceof CommandError ? 'CommandError: ' : 'other: ') + e.message; }
await new Promise((r) => setTimeout(r, 300));
for (const fd of fds.splice(0, 50)) closeSync(fd);
const after = await runner.run('echo', ['ok']);
console.log(JSON.stringify({ outcome, after: after.trim() }));
`;

describe('command runner out of file descriptors', () => {
  it('a spawn that hits EMFILE is a CommandError with the reason, and the process lives on', async () => {
    expect(existsSync(RUNNER), `${RUNNER} missing: run npm run build first`).toBe(true);
    const r = await execa('prlimit', ['--nofile=64', process.execPath, '--input-type=module', '-e', SCRIPT, RUNNER], { reject: false, timeout: 30_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ outcome: 'CommandError: true failed: cannot start true: too many open files (EMFILE)', after: 'ok' });
  });
});
