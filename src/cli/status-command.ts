import { apiGet } from './client.js';
import { EXIT } from './exit-codes.js';
import { renderStatusTable } from './render.js';
import type { CommonOptions } from './options.js';
import type { StatusReport } from '../daemon/status.js';

/** `vxmesh status`: needs only node:http and the renderer, so it starts about as fast as node itself. */
export async function statusCommand(common: CommonOptions, json: boolean): Promise<number> {
  const s = (await apiGet(common.api, '/status')) as StatusReport;
  process.stdout.write(json ? JSON.stringify(s, null, 2) + '\n' : renderStatusTable(s));
  return s.state === 'running' ? EXIT.ok : EXIT.failure;
}
