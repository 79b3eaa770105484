import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findInPath, parseEbtablesVersion, probeEbtablesBackend } from '../../src/kernel/ebtables-backend.js';
import { CommandError, type CommandRunner } from '../../src/kernel/runner.js';

/** A directory standing in for PATH with the named (empty, executable) files in it. */
const dirs: string[] = [];
function pathWith(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxmesh-path-'));
  dirs.push(dir);
  for (const n of names) {
    writeFileSync(join(dir, n), '#!/bin/sh\n');
    chmodSync(join(dir, n), 0o755);
  }
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Strict fake: answers only the calls listed, in any order; anything else fails the test. */
function fakeRunner(answers: Record<string, string | Error>) {
  const calls: string[] = [];
  const runner = {
    run: async (file: string, args: string[]) => {
      const key = [file, ...args].join(' ');
      calls.push(key);
      const a = answers[key];
      if (a === undefined) throw new Error(`unexpected command: ${key}`);
      if (a instanceof Error) throw a;
      return a;
    },
  } as unknown as CommandRunner;
  return { runner, calls };
}

const legacyFails = new CommandError('ebtables-legacy -t filter -L', 255, "The kernel doesn't support the ebtables 'filter' table.\n", undefined);

async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe('ebtables backend probe', () => {
  const ALL = ['ebtables-nft', 'ebtables-nft-save', 'ebtables-nft-restore', 'ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore', 'ebtables', 'ebtables-save', 'ebtables-restore'];

  it('takes the nf_tables commands when they work, with one process', async () => {
    const { runner, calls } = fakeRunner({ 'ebtables-nft -t filter -L': 'Bridge table: filter\n' });
    const c = await withPath(pathWith(...ALL), () => probeEbtablesBackend(runner));
    expect(c).toEqual({ backend: { name: 'nft', ebtables: 'ebtables-nft', save: 'ebtables-nft-save', restore: 'ebtables-nft-restore' }, problem: undefined });
    expect(calls).toEqual(['ebtables-nft -t filter -L']);
  });

  it('falls back to the legacy commands when nf_tables is not installed', async () => {
    const { runner } = fakeRunner({ 'ebtables-legacy -t filter -L': '' });
    const c = await withPath(pathWith('ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore'), () => probeEbtablesBackend(runner));
    expect(c.backend).toEqual({ name: 'legacy', ebtables: 'ebtables-legacy', save: 'ebtables-legacy-save', restore: 'ebtables-legacy-restore' });
  });

  it('uses the plain names when only those exist, named by what --version says', async () => {
    const { runner } = fakeRunner({ 'ebtables -t filter -L': '', 'ebtables --version': 'ebtables v2.0.10-4 (December 2011)\n' });
    const c = await withPath(pathWith('ebtables', 'ebtables-save', 'ebtables-restore'), () => probeEbtablesBackend(runner));
    expect(c.backend).toEqual({ name: 'legacy', ebtables: 'ebtables', save: 'ebtables-save', restore: 'ebtables-restore' });
  });

  it('says what was tried and what to install when none works', async () => {
    const { runner } = fakeRunner({ 'ebtables-legacy -t filter -L': legacyFails, 'ebtables -t filter -L': legacyFails });
    const path = pathWith('ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore', 'ebtables', 'ebtables-save', 'ebtables-restore');
    const c = await withPath(path, () => probeEbtablesBackend(runner));
    expect(c.backend).toBeUndefined();
    expect(c.problem).toContain('ebtables-nft, ebtables-nft-save, ebtables-nft-restore: not found');
    expect(c.problem).toContain("ebtables-legacy: The kernel doesn't support the ebtables 'filter' table.");
    expect(c.problem).toContain('apt-get install iptables');
    expect(c.problem).toContain('loop_prevention: isolated');
  });

  it('a backend missing one of its three commands is not used', async () => {
    const { runner, calls } = fakeRunner({ 'ebtables-legacy -t filter -L': '' });
    const c = await withPath(pathWith('ebtables-nft', 'ebtables-nft-save', 'ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore'), () => probeEbtablesBackend(runner));
    expect(c.backend?.name).toBe('legacy');
    expect(calls).toEqual(['ebtables-legacy -t filter -L']);
  });

  it('parses the version line', () => {
    expect(parseEbtablesVersion('ebtables 1.8.9 (nf_tables)')).toBe('nft');
    expect(parseEbtablesVersion('ebtables v2.0.11 (legacy) (December 2011)')).toBe('legacy');
  });

  it('finds executables in PATH order and skips empty entries', () => {
    const a = pathWith('x');
    const b = pathWith('x', 'y');
    expect(findInPath('x', `:${a}:${b}`)).toBe(join(a, 'x'));
    expect(findInPath('y', `${a}:${b}`)).toBe(join(b, 'y'));
    expect(findInPath('z', `${a}:${b}`)).toBeUndefined();
  });
});
