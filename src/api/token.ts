/**
 * The control API's bearer token: one file, `<stateDir>/api-token`, created
 * by the daemon at first start and readable only by its owner (and root).
 * Whoever can read it may change the network through POST /start|stop|...
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { secureStateDir, withNoFollow } from '../util/secure-file.js';

export const TOKEN_FILE_NAME = 'api-token';

const TOKEN_FILE_MODE = 0o600;
const STATE_DIR_MODE = 0o700;
const TOKEN_BYTES = 32;

/** What the daemon writes: 32 random bytes as 64 lowercase hex digits. Nothing else is a token. */
const TOKEN_FORMAT = /^[0-9a-f]{64}$/;
/** A token file is one line; anything much larger is not one. */
const MAX_TOKEN_FILE_BYTES = 4096;

export interface TokenFile {
  token: string;
  path: string;
  /** True when this call created the file (first start). */
  created: boolean;
  /** The looser mode the file had before this call tightened it to 0600, if it did. */
  fixedMode: number | null;
  /** The looser mode the state directory had before this call tightened it to 0700, if it did. */
  fixedDirMode: number | null;
}

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE_NAME);
}

/**
 * Returns the daemon's API token, creating `<stateDir>/api-token` (0600) when it does not
 * exist yet. The state directory must belong to the daemon's user and is forced to 0700 (an
 * existing 0755 one too); the token file must be a regular file of the daemon's user, is never
 * read through a symlink, and is tightened to 0600. An existing valid token is reused so CLI
 * users and scripts keep working across restarts; a malformed one is replaced.
 */
export async function ensureToken(stateDir: string): Promise<TokenFile> {
  const path = tokenPath(stateDir);
  await mkdir(stateDir, { recursive: true, mode: STATE_DIR_MODE });
  const fixedDirMode = await secureStateDir(stateDir);

  const token = generateToken();
  if (await createExclusively(path, token)) {
    return { token, path, created: true, fixedMode: null, fixedDirMode };
  }

  const { text, fixedMode } = await readOwnTokenFile(path);
  const existing = parseToken(text);
  if (existing !== null) {
    return { token: existing, path, created: false, fixedMode, fixedDirMode };
  }
  // Empty or garbled (e.g. a crash mid-write, or a hand edit): replace it whole.
  await replaceAtomically(path, token);
  return { token, path, created: true, fixedMode, fixedDirMode };
}

/** Reads the token for the CLI (never through a symlink); the error names the file and what to do. */
export async function readToken(stateDir: string): Promise<string> {
  const path = tokenPath(stateDir);
  let text: string;
  try {
    text = await withNoFollow(path, async (handle) => {
      const st = await handle.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
      return readSmall(handle);
    });
  } catch (err) {
    throw new Error(`cannot read the API token ${path}: ${describeReadError(err, stateDir)}`);
  }
  const token = parseToken(text);
  if (token === null) {
    throw new Error(
      `cannot read the API token ${path}: the file is empty or malformed, not 64 hex digits (restart the vxmesh daemon to recreate it)`,
    );
  }
  return token;
}

/** The existing token file: no symlink, a regular file of the daemon's user, tightened to 0600. */
async function readOwnTokenFile(path: string): Promise<{ text: string; fixedMode: number | null }> {
  try {
    return await withNoFollow(path, async (handle) => {
      const st = await handle.stat();
      if (!st.isFile()) throw new Error('it is not a regular file');
      const uid = process.geteuid?.();
      if (uid !== undefined && st.uid !== uid) throw new Error(`it belongs to uid ${st.uid}, not to the daemon's user (uid ${uid}); remove it and restart`);
      const mode = st.mode & 0o7777;
      let fixedMode: number | null = null;
      if ((mode & ~TOKEN_FILE_MODE) !== 0) {
        await handle.chmod(TOKEN_FILE_MODE);
        fixedMode = mode;
      }
      return { text: await readSmall(handle), fixedMode };
    });
  } catch (err) {
    const why = errorCode(err) === 'ELOOP' ? 'it is a symbolic link; remove it and restart' : err instanceof Error ? err.message : String(err);
    throw new Error(`refusing the API token file ${path}: ${why}`);
  }
}

async function readSmall(handle: FileHandle): Promise<string> {
  const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES);
  const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
  return buf.subarray(0, bytesRead).toString('utf8');
}

function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

/** A token is exactly what generateToken makes, optionally followed by a newline. */
function parseToken(text: string): string | null {
  const token = text.endsWith('\n') ? text.slice(0, -1) : text;
  return TOKEN_FORMAT.test(token) ? token : null;
}

/** Creates the file with the token unless it exists; false when it already did. */
async function createExclusively(path: string, token: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', TOKEN_FILE_MODE);
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${token}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  // The umask may have removed bits but never adds them; chmod anyway in case
  // the file system ignores the create mode.
  await chmod(path, TOKEN_FILE_MODE);
  return true;
}

async function replaceAtomically(path: string, token: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await unlink(temporary);
  } catch {
    // Usually absent; a leftover from a crashed run is removed above.
  }
  await createExclusively(temporary, token);
  await rename(temporary, path);
}

function describeReadError(err: unknown, stateDir: string): string {
  switch (errorCode(err)) {
    case 'ENOENT':
      return `no such file (the vxmesh daemon creates it at first start; is it running with --state-dir ${stateDir}?)`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (run as root)';
    case 'EISDIR':
    case 'ENOTREG':
      return 'it is not a regular file';
    case 'ELOOP':
      return 'it is a symbolic link; a token is never read through one';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
