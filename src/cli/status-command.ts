import { apiGet } from './client.js';
import { statusAnswer } from './answers.js';
import { EXIT } from './exit-codes.js';
import { renderStatusTable } from './render.js';
import { apiSocketPath } from '../api/run-dir.js';
import type { CommonOptions } from './options.js';

/**
 * `vxmesh status`: from the API's Unix socket, where only the daemon can answer (a process
 * holding TCP port 7789 could report anything). No socket: the daemon is not running (exit 3).
 */
export async function statusCommand(common: CommonOptions, json: boolean): Promise<number> {
  const api = { socketPath: apiSocketPath(common.runDir) };
  const s = statusAnswer(await apiGet(api, '/status'), api.socketPath);
  process.stdout.write(json ? JSON.stringify(s, null, 2) + '\n' : renderStatusTable(s));
  return s.state === 'running' ? EXIT.ok : EXIT.failure;
}
