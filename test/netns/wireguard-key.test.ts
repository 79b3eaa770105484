import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, run } from '../helpers/lab.js';

/**
 * Root acting for the daemon's user (the Ansible role's `vxmesh keygen` before the first start,
 * an admin's `vxmesh pubkey`): the state directory belongs to the daemon's user, and so must the
 * key, or the daemon could not read it. Needs root (chown).
 */
describe('vxmesh keygen and pubkey as root, for a state directory the daemon user owns', () => {
  const base = mkdtempSync(join(tmpdir(), 'vxmesh-keyown-'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('the key is made 0600 and owned by the directory owner; pubkey reads it; a key of another user is refused', async () => {
    const dir = join(base, 'state');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, 65534, 65534);
    const pub = (await run(process.execPath, [CLI, 'keygen', '--state-dir', dir])).trim();
    const st = statSync(join(dir, 'wireguard.key'));
    expect({ uid: st.uid, mode: st.mode & 0o777, dirMode: statSync(dir).mode & 0o777 }).toEqual({ uid: 65534, mode: 0o600, dirMode: 0o700 });
    expect((await run(process.execPath, [CLI, 'pubkey', '--state-dir', dir])).trim()).toBe(pub);
    // Kept: a second keygen prints the same key.
    expect((await run(process.execPath, [CLI, 'keygen', '--state-dir', dir])).trim()).toBe(pub);
    chownSync(join(dir, 'wireguard.key'), 0, 0);
    chmodSync(join(dir, 'wireguard.key'), 0o600);
    await expect(run(process.execPath, [CLI, 'pubkey', '--state-dir', dir])).rejects.toThrow(/belongs to uid 0, not to the state directory's owner \(uid 65534\)/);
  });
});
