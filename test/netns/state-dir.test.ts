// Needs root (chown to another user), like everything in this folder; no namespace needed.
import { chown, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureToken } from '../../src/api/token.js';

const NOBODY = 65534;

describe('API token ownership (root)', () => {
  let dir: string;
  beforeEach(async () => {
    expect(process.geteuid?.(), 'this test needs root').toBe(0);
    dir = await mkdtemp(join(tmpdir(), 'vxmesh-owner-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a token file that belongs to another user', async () => {
    const token = `${'cd'.repeat(32)}\n`;
    await writeFile(join(dir, 'api-token'), token, { mode: 0o600 });
    await chown(join(dir, 'api-token'), NOBODY, NOBODY);
    await expect(ensureToken(dir)).rejects.toThrow(`refusing the API token file ${join(dir, 'api-token')}: it belongs to uid ${NOBODY}, not to the daemon's user (uid 0)`);
  });

  it('refuses a state directory that belongs to another user, and leaves it as it was', async () => {
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { mode: 0o755 });
    await chown(stateDir, NOBODY, NOBODY);
    await expect(ensureToken(stateDir)).rejects.toThrow(/belongs to uid 65534, not to the daemon's user \(uid 0\); refusing to keep the API token there/);
    const st = await stat(stateDir);
    expect(st.uid).toBe(NOBODY);
    await expect(stat(join(stateDir, 'api-token'))).rejects.toThrow(/ENOENT/);
  });
});
