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
import { chmod, mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { withNoFollow } from '../util/secure-file.js';
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
  const owner = await keyOwner(stateDir, true);
  if (await createExclusively(path, generatePrivateKey(), owner)) {
    const { key } = await readKeyFile(path, owner);
    return { path, publicKey: publicKeyOf(key), created: true, fixedMode: null };
  }
  const { key, fixedMode } = await readKeyFile(path, owner);
  return { path, publicKey: publicKeyOf(key), created: false, fixedMode };
}

/**
 * Whose the key file must be: the daemon's user, which owns the state directory. Root (the
 * Ansible role's `vxmesh keygen`, an admin's `vxmesh pubkey`) acts for that user: a key it makes
 * belongs to the directory's owner, so the daemon can read it. Anyone else must own the directory.
 */
async function keyOwner(stateDir: string, tighten: boolean): Promise<number | undefined> {
  const st = await stat(stateDir).catch((err: NodeJS.ErrnoException) => {
    // Only reading: no directory is no key, which reading the file then says in its words.
    if (!tighten && err.code === 'ENOENT') return undefined;
    throw new Error(`cannot use the state directory ${stateDir}: ${err.code ?? err.message}`);
  });
  if (!st) return undefined;
  if (!st.isDirectory()) throw new Error(`state directory ${stateDir} is not a directory`);
  const uid = process.geteuid?.();
  if (uid !== undefined && uid !== 0 && st.uid !== uid) throw new Error(`state directory ${stateDir} belongs to uid ${st.uid}, not to this user (uid ${uid}); refusing to keep the WireGuard key there (chown it, or use another --state-dir)`);
  // Whoever can list or enter the directory could swap the key: nobody but its owner.
  if (tighten && (st.mode & 0o777) !== 0o700) await chmod(stateDir, 0o700);
  return uid === undefined ? undefined : st.uid;
}

/** This server's public key, for `vxmesh pubkey` and the daemon; the error names the file and what to do. */
export async function readPublicKey(stateDir: string): Promise<{ path: string; publicKey: string }> {
  const path = keyPath(stateDir);
  const owner = await keyOwner(stateDir, false).catch((err: Error) => {
    throw new Error(`cannot use the WireGuard private key ${path}: ${err.message}`);
  });
  const { key } = await readKeyFile(path, owner);
  return { path, publicKey: publicKeyOf(key) };
}

async function readKeyFile(path: string, owner: number | undefined): Promise<{ key: string; fixedMode: number | null }> {
  let r: { text: string; fixedMode: number | null };
  try {
    r = await withNoFollow(path, async (handle) => {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error('it is not a regular file');
      if (owner !== undefined && st.uid !== owner) throw new Error(`it belongs to uid ${st.uid}, not to the state directory's owner (uid ${owner}); remove it or chown it`);
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

async function createExclusively(path: string, key: string, owner: number | undefined): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, KEY_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${key}\n`);
    // Root making the key for the daemon's user: the file is that user's, as if it made it.
    if (owner !== undefined && owner !== process.geteuid?.()) await handle.chown(owner, -1);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, KEY_FILE_MODE);
  return true;
}
