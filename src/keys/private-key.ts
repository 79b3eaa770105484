/**
 * This server's WireGuard private key: one file, `<stateDir>/wireguard.key`, made once (first
 * start, or `vxmesh keygen`) and kept across restarts and reboots, like an SSH host key: a key
 * made again at every boot would make every peer's public_key for this server stale. Checked
 * like the API token: the state directory the daemon's own and 0700, the file a regular file of
 * the daemon's user, never read through a symlink, tightened to 0600. The key is never logged,
 * never in status; wg reads it from this path (`wg set <dev> private-key <path>`), so it is on
 * no command line and in no plan.
 */
import { constants } from 'node:fs';
import { chmod, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { secureStateDir, withNoFollow } from '../util/secure-file.js';
import { generatePrivateKey, keyProblem, publicKeyOf } from '../model/wireguard.js';

export const KEY_FILE_NAME = 'wireguard.key';
const KEY_FILE_MODE = 0o600;
const MAX_KEY_FILE_BYTES = 4096;

export function keyPath(stateDir: string): string {
  return join(stateDir, KEY_FILE_NAME);
}

export interface KeyFile {
  path: string;
  publicKey: string;
  created: boolean;
  /** The looser mode the file had before it was tightened to 0600, if it was. */
  fixedMode: number | null;
}

/** The key, made now when the file does not exist. A malformed existing file is an error, never replaced: peers know its public key. */
export async function ensurePrivateKey(stateDir: string): Promise<KeyFile> {
  const path = keyPath(stateDir);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await secureStateDir(stateDir);
  if (await createExclusively(path, generatePrivateKey())) {
    const { key } = await readKeyFile(path);
    return { path, publicKey: publicKeyOf(key), created: true, fixedMode: null };
  }
  const { key, fixedMode } = await readKeyFile(path);
  return { path, publicKey: publicKeyOf(key), created: false, fixedMode };
}

/** This server's public key, for `vxmesh pubkey` and the daemon; the error names the file and what to do. */
export async function readPublicKey(stateDir: string): Promise<{ path: string; publicKey: string }> {
  const path = keyPath(stateDir);
  const { key } = await readKeyFile(path);
  return { path, publicKey: publicKeyOf(key) };
}

async function readKeyFile(path: string): Promise<{ key: string; fixedMode: number | null }> {
  let r: { text: string; fixedMode: number | null };
  try {
    r = await withNoFollow(path, async (handle) => {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error('it is not a regular file');
      const uid = process.geteuid?.();
      if (uid !== undefined && st.uid !== uid) throw new Error(`it belongs to uid ${st.uid}, not to this user (uid ${uid})`);
      const mode = st.mode & 0o7777;
      let fixedMode: number | null = null;
      if ((mode & ~KEY_FILE_MODE) !== 0) {
        await handle.chmod(KEY_FILE_MODE);
        fixedMode = mode;
      }
      const buf = Buffer.alloc(MAX_KEY_FILE_BYTES);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return { text: buf.subarray(0, bytesRead).toString('utf8'), fixedMode };
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ELOOP' ? 'it is a symbolic link (a key is never read through one)'
      : code === 'ENOENT' ? 'no such file (the daemon makes it at first start in encrypted mode, or run `vxmesh keygen`)'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied (run as root)'
      : err instanceof Error ? err.message : String(err);
    throw new Error(`cannot use the WireGuard private key ${path}: ${why}`);
  }
  const key = r.text.endsWith('\n') ? r.text.slice(0, -1) : r.text;
  // The problem names the format only: a wrong file's contents are never echoed.
  if (keyProblem(key) !== undefined) throw new Error(`cannot use the WireGuard private key ${path}: the file is not a WireGuard key (44 base64 characters); peers know this server by its public key, so vxmesh does not replace it: restore it, or remove it and publish the new public key (docs/encryption.md)`);
  return { key, fixedMode: r.fixedMode };
}

async function createExclusively(path: string, key: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, KEY_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${key}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, KEY_FILE_MODE);
  return true;
}
