/**
 * The control API's bearer token: one file, `<stateDir>/api-token`, created
 * by the daemon at first start and readable only by its owner (and root).
 * Whoever can read it may change the network through POST /start|stop|...
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const TOKEN_FILE_NAME = 'api-token';

const TOKEN_FILE_MODE = 0o600;
const STATE_DIR_MODE = 0o700;
const TOKEN_BYTES = 32;

export interface TokenFile {
  token: string;
  path: string;
  /** True when this call created the file (first start). */
  created: boolean;
  /** The looser mode the file had before this call tightened it to 0600, if it did. */
  fixedMode: number | null;
}

export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE_NAME);
}

/**
 * Returns the daemon's API token, creating `<stateDir>/api-token` (0600, in a
 * 0700 directory if the directory is new) when it does not exist yet. An
 * existing token is reused so CLI users and scripts keep working across
 * restarts; a file that is group/world accessible is tightened to 0600.
 */
export async function ensureToken(stateDir: string): Promise<TokenFile> {
  const path = tokenPath(stateDir);
  await mkdir(stateDir, { recursive: true, mode: STATE_DIR_MODE });

  const token = generateToken();
  if (await createExclusively(path, token)) {
    return { token, path, created: true, fixedMode: null };
  }

  const fixedMode = await tightenMode(path);
  const existing = parseToken(await readFile(path, 'utf8'));
  if (existing !== null) {
    return { token: existing, path, created: false, fixedMode };
  }
  // Empty or garbled (e.g. a crash mid-write, or a hand edit): replace it whole.
  await replaceAtomically(path, token);
  return { token, path, created: true, fixedMode };
}

/** Reads the token for the CLI; the error names the file and what to do. */
export async function readToken(stateDir: string): Promise<string> {
  const path = tokenPath(stateDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the API token ${path}: ${describeReadError(err, stateDir)}`);
  }
  const token = parseToken(text);
  if (token === null) {
    throw new Error(
      `cannot read the API token ${path}: the file is empty or malformed (restart the vxmesh daemon to recreate it)`,
    );
  }
  return token;
}

function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

/** A token is one line of printable, non-space characters. */
function parseToken(text: string): string | null {
  const token = text.trim();
  return /^[\x21-\x7e]+$/.test(token) ? token : null;
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

/** Sets 0600 when the file grants more than that; returns the old mode if it changed. */
async function tightenMode(path: string): Promise<number | null> {
  const mode = (await stat(path)).mode & 0o7777;
  if ((mode & ~TOKEN_FILE_MODE) === 0) return null;
  await chmod(path, TOKEN_FILE_MODE);
  return mode;
}

function describeReadError(err: unknown, stateDir: string): string {
  switch (errorCode(err)) {
    case 'ENOENT':
      return `no such file (the vxmesh daemon creates it at first start; is it running with --state-dir ${stateDir}?)`;
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (run as root)';
    case 'EISDIR':
      return 'it is a directory, not a file';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
