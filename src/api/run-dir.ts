/** Where the API's Unix socket lives (no imports: the CLI loads this before anything else). */
import { join } from 'node:path';

export const DEFAULT_STATE_DIR = '/var/lib/vxmesh';
/** systemd's RuntimeDirectory=vxmesh. */
export const DEFAULT_RUN_DIR = '/run/vxmesh';
export const SOCKET_NAME = 'api.sock';

/**
 * The run directory: given, or /run/vxmesh with the default state dir, or the state dir itself
 * for any other (tests, the demo and the benchmark run one daemon per namespace, each with its
 * own state dir, and /run is shared between namespaces).
 */
export function resolveRunDir(stateDir: string, runDir: string | undefined): string {
  if (runDir !== undefined) return runDir;
  return stateDir.replace(/\/+$/, '') === DEFAULT_STATE_DIR ? DEFAULT_RUN_DIR : stateDir;
}

export function apiSocketPath(runDir: string): string {
  return join(runDir, SOCKET_NAME);
}
