/**
 * What the CLI accepts as the daemon's answers. Whatever answers on the API may not be vxmesh
 * (a wrong --run-dir, an old version, a squatter's web page): a wrong shape is an error that
 * says what was found and where, never a TypeError deep in the renderer.
 */
import { z } from 'zod';
import type { OperationResult, StatusReport } from '../daemon/status.js';

const str = z.string();
const strs = z.array(z.string());
const num = z.number();
const obj = <T extends z.ZodRawShape>(shape: T) => z.object(shape).passthrough();

const link = obj({
  peer: str,
  remote: str,
  vni: num,
  device: str,
  legacy: z.boolean(),
  present: z.boolean(),
  up: z.boolean(),
  attached: z.boolean(),
  mtu: num.nullable(),
  rxBytes: num,
  txBytes: num,
  learnedMacs: num,
  problem: str.nullable(),
  health: obj({ state: str }).nullable().optional(),
});

const statusSchema = obj({
  version: str,
  node: str.nullable(),
  state: z.enum(['running', 'degraded', 'stopped']),
  reasons: strs,
  warnings: strs,
  config: obj({ dir: str, files: strs, loadedAt: str.nullable(), lastError: strs.nullable(), warnings: strs }),
  underlay: obj({ device: str.nullable(), address: str.nullable(), mtu: num.nullable(), problem: str.nullable() }),
  bridge: obj({ name: str, present: z.boolean(), up: z.boolean(), mtu: num.nullable() }),
  mode: str,
  device: obj({ name: str }).nullable().optional(),
  multicast: obj({}).nullable().optional(),
  links: z.array(link),
  loopPrevention: obj({ mode: str, expected: num, present: num, problem: str.nullable() }),
  ingressFilter: obj({ enabled: z.boolean(), present: z.boolean(), problem: str.nullable() }),
  probe: obj({}).optional(),
  lastReconcile: obj({ at: str, changes: strs, errors: strs }).nullable(),
});

const operationSchema = obj({
  ok: z.boolean(),
  operation: z.enum(['start', 'stop', 'restart', 'reload']),
  state: z.enum(['running', 'degraded', 'stopped']),
  changes: strs,
  errors: strs,
});

export function statusAnswer(body: unknown, where: string): StatusReport {
  return check(statusSchema, body, where, 'GET /status', 'a vxmesh status report') as unknown as StatusReport;
}

export function operationAnswer(body: unknown, where: string, operation: string): OperationResult {
  return check(operationSchema, body, where, `POST /${operation}`, 'a vxmesh operation result') as unknown as OperationResult;
}

function check(schema: z.ZodTypeAny, body: unknown, where: string, what: string, expected: string): unknown {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : '(the whole answer)';
  throw new Error(`the answer from ${where} to ${what} is not ${expected}: ${field}: ${issue.message}; found ${describe(body)}`);
}

/** A short, printable picture of what came back. */
export function describe(body: unknown): string {
  if (typeof body === 'string') {
    const text = body.replace(/\s+/g, ' ').trim();
    return text === '' ? 'an empty body' : `text ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text)}`;
  }
  const json = JSON.stringify(body) ?? String(body);
  return `JSON ${json.length > 80 ? `${json.slice(0, 80)}...` : json}`;
}
