/**
 * The API on a Unix socket: the channel that authenticates the server to the CLI and the CLI
 * to the server by file mode alone. TCP port 7789 is unprivileged: any local user can bind it
 * while the daemon is down and collect whatever a client sends there. The socket lives in a
 * directory only the daemon's user (and root) can enter, so whoever answers on it is the
 * daemon, and whoever connects to it is root or the daemon's user: it needs no token.
 */
import { connect, type Socket } from 'node:net';
import { chmod, lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { dirname } from 'node:path';
import { HTTP_SERVER_OPTIONS, limitConnections } from './limits.js';
import { closeServer, createRouter, type Router } from './listen.js';

/** sun_path holds 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 107;

const unixSockets = new WeakSet<Socket>();

/** The request came in on the API's Unix socket (so from root or the daemon's user). */
export function arrivedOnUnixSocket(req: IncomingMessage): boolean {
  return unixSockets.has(req.socket);
}

export interface UnixListener {
  readonly path: string;
  readonly server: Server;
  close(): Promise<void>;
}

interface WarnLog {
  warn(obj: object, msg: string): void;
}

/**
 * Listen on `path`. The directory is made 0700 when missing and must not be writable by others
 * (whoever can write it can put their own socket there). A socket left by a daemon that died is
 * replaced; one a live daemon answers on is not: that is a second daemon, which fails here.
 */
export async function listenUnix(path: string, router: Router = createRouter(), log?: WarnLog): Promise<UnixListener> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new Error(`the API socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (a Unix socket limit); use a shorter --run-dir`);
  }
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let st = await lstat(dir);
  if (st.isSymbolicLink()) {
    // systemd's DynamicUser= with RuntimeDirectoryPreserve= makes /run/vxmesh root's link into
    // /run/private/vxmesh. A link anyone else made could point the socket anywhere.
    if (st.uid !== 0) throw new Error(`refusing the API run directory ${dir}: a symlink owned by uid ${st.uid}, not root`);
    st = await stat(dir);
  }
  if (!st.isDirectory()) throw new Error(`the API run directory ${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new Error(`refusing the API run directory ${dir}: mode 0${(st.mode & 0o777).toString(8)} lets others replace the socket (make it 0700 or 0750)`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid() && st.uid !== 0) {
    throw new Error(`refusing the API run directory ${dir}: it belongs to uid ${st.uid}, not to the daemon's user (uid ${process.getuid()})`);
  }
  await removeStaleSocket(path);
  const server = createServer(HTTP_SERVER_OPTIONS, router.route);
  limitConnections(server, log);
  server.on('connection', (socket: Socket) => unixSockets.add(socket));
  // The socket is born 0600 (no window in which others could connect), whatever the umask was.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new Error(`cannot listen on the API socket ${path}: ${(err as Error).message}`);
  } finally {
    process.umask(umask);
  }
  await chmod(path, 0o600);
  return {
    path,
    server,
    async close() {
      await closeServer(server);
      await unlink(path).catch(() => undefined);
    },
  };
}

async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (st === null) return;
  if (!st.isSocket()) throw new Error(`cannot listen on the API socket ${path}: something that is not a socket is in the way`);
  if (await answers(path)) throw new Error(`cannot listen on the API socket ${path}: a vxmesh daemon already answers there (is another one running with this state or run dir?)`);
  await unlink(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export { apiSocketPath, resolveRunDir } from './run-dir.js';
