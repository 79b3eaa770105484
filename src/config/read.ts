import { constants, open, type FileHandle } from 'node:fs/promises';

/**
 * Reads one config file without trusting what sits at its path. A FIFO would block a plain
 * read forever (inside the daemon's lock), a device could stream without end, and a slow
 * network file system could stall: only regular files are read, up to a size cap, within a
 * time bound. Opening with O_NONBLOCK returns at once even for a FIFO with no writer; fstat on
 * the open descriptor then tells what it really is (also behind a symlink).
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const CONFIG_READ_TIMEOUT_MS = 2000;

export type ReadResult = { ok: true; text: string } | { ok: false; reason: string };

export async function readConfigFile(path: string, opts: { maxBytes?: number; timeoutMs?: number } = {}): Promise<ReadResult> {
  const maxBytes = opts.maxBytes ?? MAX_CONFIG_BYTES;
  const timeoutMs = opts.timeoutMs ?? CONFIG_READ_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `reading took longer than ${timeoutMs} ms; skipped` }), timeoutMs);
  });
  try {
    return await Promise.race([readRegular(path, maxBytes), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function readRegular(path: string, maxBytes: number): Promise<ReadResult> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return { ok: false, reason: openError(err as NodeJS.ErrnoException) };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { ok: false, reason: `is ${fileKind(st)}, not a regular file; only regular files are read` };
    if (st.size > maxBytes) return { ok: false, reason: `is ${st.size} bytes; config files may be at most ${maxBytes} bytes` };
    // The file may grow between fstat and read: read at most one byte past the cap to notice.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
    let length = 0;
    for (;;) {
      if (length === buf.length) break;
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) return { ok: false, reason: `is over ${maxBytes} bytes; config files may be at most ${maxBytes} bytes` };
    return { ok: true, text: buf.subarray(0, length).toString('utf8') };
  } catch (err) {
    return { ok: false, reason: `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function fileKind(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function openError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'file not found';
    case 'ENXIO':
      return 'is a socket (or a device without a driver), not a regular file; only regular files are read';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return `cannot be opened: ${e.code ?? e.message}`;
  }
}
