/**
 * What the CLI accepts as the daemon's answers. Whatever answers on the API may not be vxmesh
 * (a wrong --run-dir, an old version, someone's web page): a wrong shape is an error that
 * says what was found and where, never a TypeError deep in the renderer. Hand-written rather
 * than zod: `vxmesh status` loads nothing from node_modules, to start about as fast as node.
 */
import type { OperationResult, StatusReport } from '../daemon/status.js';

type Shape =
  | 'string'
  | 'number'
  | 'boolean'
  | { nullable: Shape }
  | { optional: Shape }
  | { array: Shape }
  | { oneOf: readonly string[] }
  | { [field: string]: Shape };

const strs: Shape = { array: 'string' };
const orNull = (s: Shape): Shape => ({ nullable: s });
const STATES = { oneOf: ['running', 'degraded', 'stopped'] } as const;

const LINK: Shape = {
  peer: 'string',
  remote: 'string',
  vni: 'number',
  device: 'string',
  legacy: 'boolean',
  present: 'boolean',
  up: 'boolean',
  attached: 'boolean',
  mtu: orNull('number'),
  rxBytes: 'number',
  txBytes: 'number',
  learnedMacs: 'number',
  problem: orNull('string'),
  health: { optional: orNull({ state: 'string' }) },
};

const STATUS: Shape = {
  version: 'string',
  node: orNull('string'),
  state: STATES,
  reasons: strs,
  warnings: strs,
  config: { dir: 'string', files: strs, loadedAt: orNull('string'), lastError: orNull(strs), warnings: strs },
  underlay: { device: orNull('string'), address: orNull('string'), mtu: orNull('number'), problem: orNull('string') },
  bridge: { name: 'string', present: 'boolean', up: 'boolean', mtu: orNull('number') },
  mode: 'string',
  device: { optional: orNull({ name: 'string' }) },
  links: { array: LINK },
  loopPrevention: { mode: 'string', expected: 'number', present: 'number', problem: orNull('string') },
  ingressFilter: { enabled: 'boolean', present: 'boolean', problem: orNull('string') },
  lastReconcile: orNull({ at: 'string', changes: strs, errors: strs }),
};

const OPERATION: Shape = {
  ok: 'boolean',
  operation: { oneOf: ['start', 'stop', 'restart', 'reload'] },
  state: STATES,
  changes: strs,
  errors: strs,
};

export function statusAnswer(body: unknown, where: string): StatusReport {
  return check(STATUS, body, where, 'GET /status', 'a vxmesh status report') as StatusReport;
}

export function operationAnswer(body: unknown, where: string, operation: string): OperationResult {
  return check(OPERATION, body, where, `POST /${operation}`, 'a vxmesh operation result') as OperationResult;
}

function check(shape: Shape, body: unknown, where: string, what: string, expected: string): unknown {
  const problem = mismatch(shape, body, '');
  if (problem === null) return body;
  throw new Error(`the answer from ${where} to ${what} is not ${expected}: ${problem}; found ${describe(body)}`);
}

/** The first place where `value` does not fit `shape`, as "field: expected X, got Y"; null when it fits. */
export function mismatch(shape: Shape, value: unknown, path: string): string | null {
  const at = path === '' ? '(the whole answer)' : path;
  if (typeof shape === 'string') return typeof value === shape ? null : `${at}: expected a ${shape}, got ${kind(value)}`;
  if ('nullable' in shape) return value === null ? null : mismatch(shape.nullable as Shape, value, path);
  if ('optional' in shape) return value === undefined ? null : mismatch(shape.optional as Shape, value, path);
  if ('oneOf' in shape) {
    const options = shape.oneOf as readonly string[];
    return typeof value === 'string' && options.includes(value) ? null : `${at}: expected one of ${options.join(', ')}, got ${kind(value)}`;
  }
  if ('array' in shape) {
    if (!Array.isArray(value)) return `${at}: expected an array, got ${kind(value)}`;
    for (const [i, item] of value.entries()) {
      const m = mismatch(shape.array as Shape, item, `${path}[${i}]`);
      if (m !== null) return m;
    }
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${at}: expected an object, got ${kind(value)}`;
  for (const [field, s] of Object.entries(shape)) {
    const m = mismatch(s, (value as Record<string, unknown>)[field], path === '' ? field : `${path}.${field}`);
    if (m !== null) return m;
  }
  return null;
}

function kind(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value === 'object' ? 'an' : 'a'} ${typeof value}${typeof value === 'object' ? '' : ` (${String(value)})`}`;
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
