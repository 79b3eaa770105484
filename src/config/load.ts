import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseDocument, isMap, isNode, isScalar, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { addressFamily, canonicalAddress } from './address.js';
import { readConfigFile } from './read.js';
import { fileSchema, type FileContent } from './schema.js';
import { validateMesh } from './validate.js';
import type { ConfigIssue, MeshLocations } from './issue.js';
import { MESH_DEFAULTS, type Config, type Location, type MeshSettings, type Peer, type Segment } from '../model/types.js';
import { segmentBridgeName, segmentDeviceName } from '../model/names.js';

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

/**
 * Never throws: whatever is in the directory (a FIFO, a huge file, YAML that defeats the
 * parser), the answer is a config or a list of issues, so a bad file cannot stop repair.
 */
export async function loadConfig(dir: string): Promise<LoadResult> {
  const r = await readSources(dir);
  return r.ok ? parseConfig(r.sources) : r.result;
}

/**
 * The texts of a config directory's files in merge order, or the issues that stop them being
 * read (as a LoadResult). Never throws.
 */
export async function readSources(dir: string): Promise<{ ok: true; sources: SourceFile[] } | { ok: false; result: LoadResult }> {
  try {
    const { files: paths, issues } = await listConfigFiles(dir);
    const sources: SourceFile[] = [];
    for (const path of paths) {
      const r = await readConfigFile(path);
      if (r.ok) sources.push({ path, text: r.text });
      else issues.push({ file: path, line: 1, col: 1, field: '', message: r.reason });
    }
    if (issues.length > 0) return { ok: false, result: { ok: false, issues, files: paths } };
    return { ok: true, sources };
  } catch (err) {
    return { ok: false, result: { ok: false, issues: [{ file: dir, line: 1, col: 1, field: '', message: `cannot load the config: ${clip(err instanceof Error ? err.message : String(err))}` }], files: [] } };
  }
}

/** Pure: texts of the files in merge order -> a validated config or every issue found. Never throws. */
export function parseConfig(sources: SourceFile[]): LoadResult {
  try {
    return parseSources(sources);
  } catch (err) {
    // A parser bug or an input nobody foresaw must still read as a config error, not a crash.
    const file = sources[0]?.path ?? MAIN_FILE;
    return { ok: false, issues: [{ file, line: 1, col: 1, field: '', message: `cannot parse the config: ${clip(err instanceof Error ? err.message : String(err))}` }], files: sources.map((s) => s.path) };
  }
}

function parseSources(sources: SourceFile[]): LoadResult {
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
  const warnings = validateMesh(config.mesh, config.peers, files[0] ?? MAIN_FILE, issues, meshWhere, config.segments);
  if (issues.length > 0) return { ok: false, issues, files };
  return { ok: true, config: { ...config, files, warnings } };
}

function parseFile(src: SourceFile): ParsedFile | { issues: ConfigIssue[] } {
  const lc = new LineCounter();
  const doc = parseDocument(src.text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const loc = (offset: number): Location => ({ file: src.path, ...lc.linePos(offset) });
  if (doc.errors.length > 0) {
    const shown = doc.errors.slice(0, MAX_ISSUES_PER_FILE).map((e) => ({ ...loc(e.pos[0]), field: '', message: `YAML: ${yamlMessage(e.message)}` }));
    const more = doc.errors.length - shown.length;
    if (more > 0) shown.push({ ...loc(doc.errors[MAX_ISSUES_PER_FILE]!.pos[0]), field: '', message: `YAML: ${more} more error${more === 1 ? '' : 's'} in this file` });
    return { issues: shown };
  }
  const aliasIssues = checkAliases(doc, loc);
  if (aliasIssues.length > 0) return { issues: aliasIssues };
  const at = (path: PathKey[], atKey = false): Location => loc(offsetOf(doc, path, atKey));
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_USES }) ?? {};
  } catch (err) {
    // Aliases of aliases that expand past the limit (a "billion laughs" file).
    const aliases: number[] = [];
    visit(doc, { Alias: (_k, node) => void aliases.push(node.range?.[0] ?? 0) });
    return { issues: [{ ...loc(aliases[aliases.length - 1] ?? 0), field: '', message: `YAML: aliases expand too much (${clip(err instanceof Error ? err.message : String(err))}); the config may not use nested aliases this way` }] };
  }
  const r = fileSchema.safeParse(data);
  if (!r.success) return { issues: r.error.issues.map((i) => zodIssue(i, at)) };
  return { path: src.path, content: r.data, at };
}

/** Per anchor, at most this many aliases (the YAML library's own limit for expansion). */
const MAX_ALIAS_USES = 100;
/** A file that is not YAML at all (a symlink to a system file) would give one error per line. */
const MAX_ISSUES_PER_FILE = 5;

/**
 * Aliases that toJS would throw on, as issues with their position: an alias with no anchor
 * before it, and an anchor used more than MAX_ALIAS_USES times.
 */
function checkAliases(doc: Document, loc: (offset: number) => Location): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const uses = new Map<string, number>();
  visit(doc, {
    Alias: (_key, node) => {
      const where = loc(node.range?.[0] ?? 0);
      const name = clip(node.source, 32);
      if (node.resolve(doc) === undefined) {
        issues.push({ ...where, field: '', message: `YAML: unknown alias *${name} (no anchor &${name} before it)` });
        return;
      }
      const n = (uses.get(node.source) ?? 0) + 1;
      uses.set(node.source, n);
      if (n === MAX_ALIAS_USES + 1) issues.push({ ...where, field: '', message: `YAML: anchor &${name} is used more than ${MAX_ALIAS_USES} times (the limit that guards against alias expansion attacks)` });
    },
  });
  return issues.slice(0, MAX_ISSUES_PER_FILE);
}

/**
 * The parser's message without the source text it quotes: a symlink to a system file must not
 * have its lines shown in status or the log.
 */
function yamlMessage(message: string): string {
  const first = message.split('\n')[0] ?? '';
  const cut = first.search(/["']/);
  return clip((cut < 0 ? first : first.slice(0, cut)).replace(/[\s:]+$/, ''));
}

/** Text from a file or an error, cut to a length that cannot carry a file's contents. */
export function clip(text: string, max = 120): string {
  const oneLine = text.replace(/[\x00-\x1f\x7f]+/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 3)}...`;
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
    // Key names come from the file: a few, each cut short (a wrong file must not be listed here).
    const shown = i.keys.slice(0, 3).map((k) => `"${clip(k, 32)}"`);
    const more = i.keys.length > 3 ? ` and ${i.keys.length - 3} more` : '';
    return { ...at([...path, key], true), field: fieldName([...path, key]), message: `unknown key${i.keys.length > 1 ? 's' : ''} ${shown.join(', ')}${more}` };
  }
  const missing = i.code === 'invalid_type' && /received undefined$/.test(i.message);
  return { ...at(path), field: fieldName(path), message: missing ? 'is required' : i.message };
}

export function fieldName(path: PathKey[]): string {
  return path.map((k, n) => (typeof k === 'number' ? `[${k}]` : n === 0 ? clip(k, 32) : `.${clip(k, 32)}`)).join('');
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
  encryption: 'encryption',
  control: 'control',
};

/** `mesh.wireguard.*` keys and where each goes. */
const WIREGUARD_KEYS: Record<string, keyof MeshSettings['wireguard']> = { port: 'port', device: 'device', tunnel_range: 'tunnelRange' };

/** `mesh.bgp.*` merge key by key; the neighbor list compares as a whole. */
function mergeBgp(mesh: MeshSettings, value: unknown, f: ParsedFile, setOnce: (key: string, value: unknown, where: Location) => boolean): void {
  const bgp = (mesh.bgp ??= { asn: 0, routerId: undefined, neighbors: [], frrPathspace: undefined });
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const where = f.at(['mesh', 'bgp', k]);
    if (k === 'neighbors') {
      const list = (v as string[]).map((a) => canonicalAddress(a)!);
      if (setOnce('mesh.bgp.neighbors', list.join(', '), where)) bgp.neighbors = list;
    } else if (k === 'router_id') {
      const id = canonicalAddress(v as string)!;
      if (setOnce('mesh.bgp.router_id', id, where)) bgp.routerId = id;
    } else if (setOnce(`mesh.bgp.${k}`, v, where)) {
      if (k === 'asn') bgp.asn = v as number;
      else if (k === 'frr_pathspace') bgp.frrPathspace = v as string;
    }
  }
}

/** `mesh.probe.*` merge key by key, like the other mesh settings; `mesh.probe_key_file` is `mesh.probe.key_file`. */
function mergeProbe(mesh: MeshSettings, key: string, value: unknown, f: ParsedFile, setOnce: (key: string, value: unknown, where: Location) => boolean): void {
  if (key === 'probe_key_file') {
    if (setOnce('mesh.probe.key_file', value, f.at(['mesh', key]))) mesh.probe.keyFile = value as string;
    return;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!setOnce(`mesh.probe.${k}`, v, f.at(['mesh', 'probe', k]))) continue;
    if (k === 'enabled') mesh.probe.enabled = v as boolean;
    else if (k === 'interval') mesh.probe.intervalMs = Math.round((v as number) * 1000);
    else if (k === 'port') mesh.probe.port = v as number;
    else if (k === 'key_file') mesh.probe.keyFile = v as string;
  }
}

/** Merge fragments: a setting may repeat only with the same value; peers add up. */
function mergeFiles(files: ParsedFile[], issues: ConfigIssue[]): (Omit<Config, 'files' | 'warnings'> & { meshWhere: MeshLocations }) | undefined {
  const mesh: MeshSettings = { ...MESH_DEFAULTS, probe: { ...MESH_DEFAULTS.probe }, wireguard: { ...MESH_DEFAULTS.wireguard } };
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
  // Segments add up like peers; their defaults (MTU, multicast group) need the merged mesh.
  const segmentEntries: { f: ParsedFile; n: number; s: NonNullable<FileContent['segments']>[number] }[] = [];
  for (const f of files) {
    (f.content.segments ?? []).forEach((s, n) => segmentEntries.push({ f, n, s }));
    for (const [key, value] of Object.entries(f.content.mesh ?? {})) {
      if (key === 'probe' || key === 'probe_key_file') {
        mergeProbe(mesh, key, value, f, setOnce);
        continue;
      }
      if (key === 'wireguard') {
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          const target = WIREGUARD_KEYS[k];
          if (target && setOnce(`mesh.wireguard.${k}`, v, f.at(['mesh', 'wireguard', k]))) (mesh.wireguard as unknown as Record<string, unknown>)[target] = v;
        }
        continue;
      }
      if (key === 'bgp') {
        mergeBgp(mesh, value, f, setOnce);
        continue;
      }
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
        ...(p.public_key ? { publicKey: p.public_key } : {}),
        where: {
          field: `peers[${n}]`,
          item: f.at(['peers', n]),
          name: f.at(['peers', n, 'name']),
          id: f.at(['peers', n, 'id']),
          address: f.at(['peers', n, 'address']),
          remotes: (p.legacy?.remotes ?? []).map((_, k) => f.at(['peers', n, 'legacy', 'remotes', k])),
          publicKey: f.at(['peers', n, 'public_key']),
        },
      });
    });
  }
  if (issues.length > 0) return undefined;
  // EVPN has its own one-device shape: `mode` stays unset (validation refuses one that is set).
  if (mesh.control === 'evpn' && !setAt.has('mesh.mode')) mesh.mode = 'evpn';
  // Segments imply the one-device shape: flood-list unless the config says otherwise.
  if (segmentEntries.length > 0 && !setAt.has('mesh.mode') && mesh.control !== 'evpn') mesh.mode = 'flood-list';
  const meshWhere: MeshLocations = {};
  for (const [key, at] of setAt) if (key.startsWith('mesh.')) meshWhere[key.slice(5)] = at.where;
  const segments = segmentEntries.map(({ f, n, s }): Segment => ({
    name: s.name,
    vni: s.vni,
    mtu: s.mtu ?? mesh.mtu,
    bridge: s.bridge ?? segmentBridgeName(s.name),
    device: s.device ?? segmentDeviceName(s.name),
    group: s.group !== undefined ? canonicalAddress(s.group) : mesh.group,
    members: s.peers,
    where: {
      field: `segments[${n}]`,
      item: f.at(['segments', n]),
      name: f.at(['segments', n, 'name']),
      vni: f.at(['segments', n, 'vni']),
      bridge: f.at(['segments', n, s.bridge === undefined ? 'name' : 'bridge']),
      device: f.at(['segments', n, s.device === undefined ? 'name' : 'device']),
      members: (s.peers ?? []).map((_, k) => f.at(['segments', n, 'peers', k])),
    },
  }));
  return { mesh, peers, meshWhere, ...(node !== undefined ? { node } : {}), ...(segments.length > 0 ? { segments } : {}) };
}
