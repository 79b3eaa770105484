import { apiGet, apiPost, assertTokenDestination } from './client.js';
import { EXIT } from './exit-codes.js';
import { renderOperation } from './render.js';
import { readToken } from '../api/token.js';
import type { CommonOptions } from './options.js';
import type { OperationResult } from '../daemon/status.js';

/** `vxmesh start|stop|restart|reload` through the API, with the token from the state dir. */
export async function operationCommand(common: CommonOptions, operation: OperationResult['operation'], json: boolean): Promise<number> {
  // Before the token is even read: it goes to loopback only.
  assertTokenDestination(common.api);
  let token: string;
  try {
    token = await readToken(common.stateDir);
  } catch (err) {
    // No token is most often no daemon (it makes the token at first start): say that, exit 3.
    await apiGet(common.api, '/healthz');
    throw err;
  }
  const r = (await apiPost(common.api, `/${operation}`, token)) as OperationResult;
  process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : renderOperation(r));
  return r.ok ? EXIT.ok : EXIT.failure;
}
