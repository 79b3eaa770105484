/**
 * The CLI's HTTP client for the daemon's control API (node:http, one request
 * per connection so the CLI exits as soon as it has its answer). The CLI's verbs talk to the
 * Unix socket (only the daemon can answer there, see src/api/unix-socket.ts); loopback TCP
 * with the token remains for callers that ask for it.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { EXIT } from './exit-codes.js';
import { isLoopbackAddress } from '../api/listen.js';

export type ApiAddress = { host: string; port: number } | { socketPath: string };

export interface ApiResponse {
  status: number;
  contentType: string;
  /** Parsed JSON when the daemon answered JSON, else the raw text. */
  body: unknown;
}

export interface RequestOptions {
  timeoutMs?: number;
}

/** An answer the daemon gave as an error ({"error": ...}), with its HTTP status. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Nothing listens on the API address: the CLI exits with 3, as LSB tools do for "not running". */
export class DaemonNotRunningError extends Error {
  readonly exitCode = EXIT.notRunning;
  constructor(message: string) {
    super(message);
    this.name = 'DaemonNotRunningError';
  }
}

const GET_TIMEOUT_MS = 10_000;
// start/restart may bring up a large mesh and retry failed steps; give them time.
const POST_TIMEOUT_MS = 120_000;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * GET a read-only endpoint; returns the parsed JSON (or text, for /metrics).
 * Answers that are JSON errors throw ApiError; other statuses (503 from
 * /healthz) return their body.
 */
export async function apiGet(api: ApiAddress, path: string, options: RequestOptions = {}): Promise<unknown> {
  const response = await apiRequest(api, 'GET', path, {}, options.timeoutMs ?? GET_TIMEOUT_MS);
  return bodyOrThrow(response);
}

/**
 * POST an operation with the bearer token; returns the OperationResult, also
 * when the operation failed (HTTP 500 with ok: false). A refused token throws.
 */
export async function apiPost(api: ApiAddress, path: string, token: string, options: RequestOptions = {}): Promise<unknown> {
  assertTokenDestination(api);
  const headers = { authorization: `Bearer ${token}`, 'content-length': '0' };
  const response = await apiRequest(api, 'POST', path, headers, options.timeoutMs ?? POST_TIMEOUT_MS);
  return bodyOrThrow(response);
}

/**
 * The token travels in clear text over HTTP: only ever to this host's loopback (the daemon
 * listens nowhere else), never to an address someone slipped into --api.
 */
export function assertTokenDestination(api: ApiAddress): void {
  // On the socket the file mode authenticates: the token has no business there either.
  if ('socketPath' in api) throw new Error(`refusing to send the API token to ${formatAddress(api)}: the socket needs none`);
  const host = api.host.toLowerCase();
  if (host === 'localhost' || isLoopbackAddress(host)) return;
  throw new Error(`refusing to send the API token to ${formatAddress(api)}: not a loopback address (the daemon's API listens on 127.0.0.1 and [::1] only)`);
}

/** POST an operation on the Unix socket, where the socket's file mode is the authentication: no token. */
export async function apiOperation(api: { socketPath: string }, path: string, options: RequestOptions = {}): Promise<unknown> {
  const response = await apiRequest(api, 'POST', path, { 'content-length': '0' }, options.timeoutMs ?? POST_TIMEOUT_MS);
  return bodyOrThrow(response);
}

/** The raw exchange, for callers that want the status code themselves. */
export function apiRequest(
  api: ApiAddress,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<ApiResponse> {
  const where = formatAddress(api);
  return new Promise<ApiResponse>((resolve, reject) => {
    const req = httpRequest(
      { ...('socketPath' in api ? { socketPath: api.socketPath } : { host: api.host, port: api.port }), method, path, agent: false, headers: { accept: 'application/json', ...headers } },
      (res) => {
        readResponse(res, where).then(resolve, reject);
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy(new Error(`the vxmesh daemon on ${where} did not answer ${method} ${path} within ${timeoutMs / 1000} s`));
    });
    req.on('error', (err) => reject('socketPath' in api ? describeSocketError(err, api.socketPath) : describeConnectionError(err, where)));
    req.end();
  });
}

export function formatAddress(api: ApiAddress): string {
  if ('socketPath' in api) return api.socketPath;
  return api.host.includes(':') ? `[${api.host}]:${api.port}` : `${api.host}:${api.port}`;
}

function bodyOrThrow(response: ApiResponse): unknown {
  if (response.status >= 400 && hasErrorMessage(response.body)) {
    throw new ApiError(`the vxmesh daemon refused: ${response.body.error} (HTTP ${response.status})`, response.status);
  }
  if (response.status >= 400 && typeof response.body === 'string') {
    const text = response.body.replace(/\s+/g, ' ').trim();
    throw new ApiError(`the vxmesh daemon answered HTTP ${response.status}: ${text.length > 200 ? `${text.slice(0, 200)}...` : text}`, response.status);
  }
  return response.body;
}

function hasErrorMessage(body: unknown): body is { error: string } {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

function readResponse(res: IncomingMessage, where: string): Promise<ApiResponse> {
  return new Promise<ApiResponse>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.destroy(new Error(`the answer from ${where} is larger than ${MAX_RESPONSE_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('error', reject);
    res.on('end', () => {
      const contentType = String(res.headers['content-type'] ?? '');
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve({ status: res.statusCode ?? 0, contentType, body: parseBody(contentType, text) });
      } catch (err) {
        reject(new Error(`the answer from ${where} is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}

function parseBody(contentType: string, text: string): unknown {
  return contentType.startsWith('application/json') ? JSON.parse(text) : text;
}

function describeSocketError(err: Error, path: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return new DaemonNotRunningError(
        `vxmesh daemon is not running (no API socket at ${path}; a daemon started with another --state-dir or --run-dir has its socket there)`,
      );
    case 'ECONNREFUSED':
      return new DaemonNotRunningError(`vxmesh daemon is not running (nobody answers on the API socket ${path}, left by a daemon that exited)`);
    case 'EACCES':
    case 'EPERM':
      return new Error(`permission denied on the API socket ${path}: it is for root and the daemon's user (run as root; anyone may read GET /status on 127.0.0.1:7789 with curl)`);
    case 'ENOTSOCK':
      return new Error(`cannot reach the vxmesh daemon: ${path} is not a socket`);
    case 'ECONNRESET':
      return new Error(`the vxmesh daemon on ${path} closed the connection before answering`);
    default:
      return err.message.startsWith('the vxmesh daemon') ? err : new Error(`cannot reach the vxmesh daemon on ${path}: ${err.message}`);
  }
}

function describeConnectionError(err: Error, where: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return new DaemonNotRunningError(`vxmesh daemon is not running (nothing listens on ${where})`);
    case 'EADDRNOTAVAIL':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new Error(`cannot reach the vxmesh daemon on ${where}: the address is not available here (${code})`);
    case 'ECONNRESET':
      return new Error(`the vxmesh daemon on ${where} closed the connection before answering`);
    default:
      return err.message.startsWith('the vxmesh daemon') ? err : new Error(`cannot reach the vxmesh daemon on ${where}: ${err.message}`);
  }
}
