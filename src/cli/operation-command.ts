import { apiOperation } from './client.js';
import { operationAnswer } from './answers.js';
import { EXIT } from './exit-codes.js';
import { renderOperation } from './render.js';
import { apiSocketPath } from '../api/run-dir.js';
import type { CommonOptions } from './options.js';
import type { OperationResult } from '../daemon/status.js';

/**
 * `vxmesh start|stop|restart|reload` through the API's Unix socket. Its file mode is the
 * authentication, so no token is read or sent, and nothing goes to TCP port 7789, which
 * anyone on the host may be holding.
 */
export async function operationCommand(common: CommonOptions, operation: OperationResult['operation'], json: boolean): Promise<number> {
  const api = { socketPath: apiSocketPath(common.runDir) };
  const r = operationAnswer(await apiOperation(api, `/${operation}`), api.socketPath, operation);
  process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : renderOperation(r));
  return r.ok ? EXIT.ok : EXIT.failure;
}
