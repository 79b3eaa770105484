/**
 * Files only the daemon's user may touch (the API token, the WireGuard private key): the state
 * directory must be that user's and 0700, and such files are never opened through a symlink.
 */
import { constants } from 'node:fs';
import { chmod, open, stat, type FileHandle } from 'node:fs/promises';

const STATE_DIR_MODE = 0o700;

/**
 * Whoever can replace files in the state directory can replace the token: it must belong to
 * the daemon's user, and nobody else may list or enter it. Returns the old mode if it changed.
 */
export async function secureStateDir(stateDir: string): Promise<number | null> {
  const st = await stat(stateDir);
  if (!st.isDirectory()) throw new Error(`state directory ${stateDir} is not a directory`);
  const uid = process.geteuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`state directory ${stateDir} belongs to uid ${st.uid}, not to the daemon's user (uid ${uid}); refusing to keep the API token there (chown it, or use another --state-dir)`);
  }
  const mode = st.mode & 0o7777;
  if (mode === STATE_DIR_MODE) return null;
  await chmod(stateDir, STATE_DIR_MODE);
  return mode;
}

/** Opens without following a symlink (ELOOP if it is one), and never blocks on a FIFO. */
export async function withNoFollow<T>(path: string, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}

