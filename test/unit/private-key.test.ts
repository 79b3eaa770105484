import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePrivateKey, keyPath, readPublicKey } from '../../src/keys/private-key.js';
import { keyProblem, publicKeyOf } from '../../src/model/wireguard.js';

const dirs: string[] = [];
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vxmesh-key-'));
  dirs.push(d);
  return join(d, 'state');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the WireGuard private key file', () => {
  it('is made once, 0600 in a 0700 state directory, and kept: the same public key on every start', async () => {
    const dir = stateDir();
    const first = await ensurePrivateKey(dir);
    expect(first.created).toBe(true);
    expect(statSync(keyPath(dir)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(keyPath(dir), 'utf8');
    expect(keyProblem(text.trim())).toBeUndefined();
    expect(first.publicKey).toBe(publicKeyOf(text.trim()));
    const again = await ensurePrivateKey(dir);
    expect(again).toMatchObject({ created: false, publicKey: first.publicKey });
    expect(readFileSync(keyPath(dir), 'utf8')).toBe(text);
    expect((await readPublicKey(dir)).publicKey).toBe(first.publicKey);
  });

  it('tightens a looser mode, refuses a symlink and a malformed file (never replacing it), and says what to do', async () => {
    const dir = stateDir();
    await ensurePrivateKey(dir);
    chmodSync(keyPath(dir), 0o644);
    expect((await ensurePrivateKey(dir)).fixedMode).toBe(0o644);
    expect(statSync(keyPath(dir)).mode & 0o777).toBe(0o600);

    const other = stateDir();
    await ensurePrivateKey(other);
    const link = stateDir();
    await ensurePrivateKey(link);
    rmSync(keyPath(link));
    symlinkSync(keyPath(other), keyPath(link));
    await expect(ensurePrivateKey(link)).rejects.toThrow(/is a symbolic link \(a key is never read through one\)/);

    const bad = stateDir();
    await ensurePrivateKey(bad);
    writeFileSync(keyPath(bad), 'garbage that must never be echoed\n');
    await expect(ensurePrivateKey(bad)).rejects.toThrow(/the file is not a WireGuard key .*vxmesh does not replace it/);
    await expect(ensurePrivateKey(bad)).rejects.not.toThrow(/garbage/);
    expect(readFileSync(keyPath(bad), 'utf8')).toBe('garbage that must never be echoed\n');
    await expect(readPublicKey(stateDir())).rejects.toThrow(/no such file \(the daemon makes it at first start in encrypted mode, or run `vxmesh keygen`\)/);
  });
});
