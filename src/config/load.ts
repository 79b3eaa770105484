import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import type { z } from 'zod';
import { addressFamily, canonicalAddress } from './address.js';
import { fileSchema, type FileContent } from './schema.js';
import { validateMesh } from './validate.js';
import type { ConfigIssue, MeshLocations } from './issue.js';
import { MESH_DEFAULTS, type Config, type Location, type MeshSettings, type Peer } from '../model/types.js';

export { formatIssue, type ConfigIssue } from './issue.js';

export type LoadResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[]; files: string[] };

export interface SourceFile {
  path: string;
  text: string;
}

type PathKey = string | number;

/** A parsed file that can say where any of its values stands. */
interface ParsedFile {
  path: string;
  content: FileContent;
  at(path: PathKey[], atKey?: boolean): Location;
}

export const MAIN_FILE = 'peers.yaml';
export const DROPIN_DIR = 'peers.d';

/**
 * The files of a config directory in the order they merge: peers.yaml, then peers.d/ by name.
 * Hidden files are skipped: editors' lock files and Ansible's temporary files live there
 * for a moment.
 */
export async function listConfigFiles(dir: string): Promise<{ files: string[]; issues: ConfigIssue[] }> {
  const files = [join(dir, MAIN_FILE)];
  const dropins = join(dir, DROPIN_DIR);
  try {
    const names = (await readdir(dropins)).filter((n) => /\.ya?ml$/.test(n) && !n.startsWith('.')).sort();
    files.push(...names.map((n) => join(dropins, n)));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'ENOENT') return { files, issues: [{ file: dropins, line: 1, col: 1, field: '', message: `cannot read the drop-in directory: ${e.code ?? e.message}` }] };
  }
  return { files, issues: [] };
}

export async function loadConfig(dir: string): Promise<LoadResult> {
  const { files: paths, issues } = await listConfigFiles(dir);
  const sources: SourceFile[] = [];
  for (const path of paths) {
    try {
      sources.push({ path, text: await readFile(path, 'utf8') });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      issues.push({ file: path, line: 1, col: 1, field: '', message: e.code === 'ENOENT' ? 'file not found' : e.message });
    }
  }
  if (issues.length > 0) return { ok: false, issues, files: paths };
  return parseConfig(sources);
}

/** Pure: texts of the files in merge order -> a validated config or every issue found. */
export function parseConfig(sources: SourceFile[]): LoadResult {
  const files = sources.map((s) => s.path);
  const issues: ConfigIssue[] = [];
  const parsed: ParsedFile[] = [];
  for (const src of sources) {
    const r = parseFile(src);
    if ('issues' in r) issues.push(...r.issues);
    else parsed.push(r);
  }
  if (issues.length > 0) return { ok: false, issues, files };
  const merged = mergeFiles(parsed, issues);
  if (issues.length > 0 || !merged) return { ok: false, issues, files };
  const { meshWhere, ...config } = merged;
  const warnings = validateMesh(config.mesh, config.peers, files[0] ?? MAIN_FILE, issues, meshWhere);
  if (issues.length > 0) return { ok: false, issues, files };
  return { ok: true, config: { ...config, files, warnings } };
}

function parseFile(src: SourceFile): ParsedFile | { issues: ConfigIssue[] } {
  const lc = new LineCounter();
  const doc = parseDocument(src.text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const loc = (offset: number): Location => ({ file: src.path, ...lc.linePos(offset) });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({ ...loc(e.pos[0]), field: '', message: `YAML: ${e.message.split('\n')[0]}` })),
    };
  }
  const at = (path: PathKey[], atKey = false): Location => loc(offsetOf(doc, path, atKey));
  const data = doc.toJS() ?? {};
  const r = fileSchema.safeParse(data);
  if (!r.success) return { issues: r.error.issues.map((i) => zodIssue(i, at)) };
  return { path: src.path, content: r.data, at };
}

/** Start offset of the value (or with `atKey`, the key) at `path`, or of its nearest existing ancestor. */
function offsetOf(doc: Document, path: PathKey[], atKey: boolean): number {
  if (atKey && path.length > 0) {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
      if (isNode(pair?.key) && pair.key.range) return pair.key.range[0];
    }
  }
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}

function zodIssue(i: z.core.$ZodIssue, at: ParsedFile['at']): ConfigIssue {
  const path = i.path.filter((k): k is PathKey => typeof k !== 'symbol');
  if (i.code === 'unrecognized_keys') {
    const key = i.keys[0] ?? '';
    return { ...at([...path, key], true), field: fieldName([...path, key]), message: `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}` };
  }
  const missing = i.code === 'invalid_type' && /received undefined$/.test(i.message);
  return { ...at(path), field: fieldName(path), message: missing ? 'is required' : i.message };
}

export function fieldName(path: PathKey[]): string {
  return path.map((k, n) => (typeof k === 'number' ? `[${k}]` : n === 0 ? k : `.${k}`)).join('');
}

const MESH_KEYS: Record<string, keyof MeshSettings> = {
  bridge: 'bridge',
  mtu: 'mtu',
  port: 'port',
  vni_base: 'vniBase',
  loop_prevention: 'loopPrevention',
  ingress_filter: 'ingressFilter',
  mode: 'mode',
  vni: 'vni',
  device: 'device',
  group: 'group',
  ttl: 'ttl',
};

/** Merge fragments: a setting may repeat only with the same value; peers add up. */
function mergeFiles(files: ParsedFile[], issues: ConfigIssue[]): (Omit<Config, 'files' | 'warnings'> & { meshWhere: MeshLocations }) | undefined {
  const mesh: MeshSettings = { ...MESH_DEFAULTS };
  const setAt = new Map<string, { value: unknown; where: Location }>();
  const setOnce = (key: string, value: unknown, where: Location): boolean => {
    const prev = setAt.get(key);
    if (prev && prev.value !== value) {
      issues.push({ ...where, field: key, message: `is ${JSON.stringify(value)} here but ${JSON.stringify(prev.value)} at ${prev.where.file}:${prev.where.line}:${prev.where.col}` });
      return false;
    }
    setAt.set(key, { value, where });
    return true;
  };
  let node: string | undefined;
  const peers: Peer[] = [];
  for (const f of files) {
    for (const [key, value] of Object.entries(f.content.mesh ?? {})) {
      const target = MESH_KEYS[key];
      if (target && setOnce(`mesh.${key}`, value, f.at(['mesh', key]))) (mesh as unknown as Record<string, unknown>)[target] = key === 'group' ? canonicalAddress(String(value)) : value;
    }
    if (f.content.node !== undefined && setOnce('node', f.content.node, f.at(['node']))) node = f.content.node;
    (f.content.peers ?? []).forEach((p, n) => {
      peers.push({
        name: p.name,
        id: p.id,
        address: canonicalAddress(p.address)!,
        family: addressFamily(p.address),
        ...(p.dev ? { dev: p.dev } : {}),
        ...(p.legacy ? { legacy: { remotes: p.legacy.remotes.map((a) => canonicalAddress(a)!) } } : {}),
        where: {
          field: `peers[${n}]`,
          item: f.at(['peers', n]),
          name: f.at(['peers', n, 'name']),
          id: f.at(['peers', n, 'id']),
          address: f.at(['peers', n, 'address']),
          remotes: (p.legacy?.remotes ?? []).map((_, k) => f.at(['peers', n, 'legacy', 'remotes', k])),
        },
      });
    });
  }
  if (issues.length > 0) return undefined;
  const meshWhere: MeshLocations = {};
  for (const [key, at] of setAt) if (key.startsWith('mesh.')) meshWhere[key.slice(5)] = at.where;
  return { mesh, peers, meshWhere, ...(node !== undefined ? { node } : {}) };
}
