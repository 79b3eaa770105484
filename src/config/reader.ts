import { createHash } from 'node:crypto';
import { formatIssue, parseConfig, readSources, type LoadResult, type SourceFile } from './load.js';
import { readConfigFile } from './read.js';
import type { Config } from '../model/types.js';
import { VERSION } from '../version.js';

/**
 * Loads one config directory, parsing it again only when its files changed. The daemon reads
 * the files at every config event and every periodic resync; at 2000 peers a parse takes about
 * 300 ms (the daemon runs V8 in lite mode) and leaves megabytes of garbage, while reading and
 * hashing the same texts takes well under a millisecond. A result is a pure function of the
 * files' paths and texts, so the same files give the same result object (the caller can tell
 * "unchanged" by identity).
 */
export class ConfigReader {
  private last: { digest: string; result: LoadResult; sources?: SourceFile[] } | undefined;

  constructor(readonly dir: string) {}

  /**
   * Take `config` as what files with this digest give: a config saved by an earlier run (the
   * daemon's last good config), so a restart with unchanged files does not parse them.
   */
  adopt(digest: string, config: Config): void {
    this.last = { digest, result: { ok: true, config } };
  }

  /** The digest of the files the last load read (undefined when they could not be read). */
  get digest(): string | undefined {
    return this.last?.digest;
  }

  /** The texts the last load read, when it read them (not after `adopt`). */
  get sources(): SourceFile[] | undefined {
    return this.last?.sources;
  }

  /** Never throws, like loadConfig. */
  async load(): Promise<LoadResult> {
    const r = await readSources(this.dir);
    if (!r.ok) {
      this.last = undefined;
      return r.result;
    }
    const digest = sourcesDigest(r.sources);
    if (this.last?.digest === digest) {
      this.last.sources = r.sources;
      return this.last.result;
    }
    const result = parseConfig(r.sources);
    this.last = { digest, result, sources: r.sources };
    return result;
  }
}

/**
 * One hash over every file's path and text, in merge order (lengths first: no two splits
 * collide), and the program version: another version may parse or validate them differently,
 * and the digest is kept across restarts with the last good config.
 */
export function sourcesDigest(sources: SourceFile[]): string {
  const h = createHash('sha256').update(`vxmesh ${VERSION}\0`);
  for (const s of sources) h.update(`${s.path.length}:${s.path}\0${s.text.length}:`).update(s.text).update('\0');
  return h.digest('hex');
}

/** A hash of a config's content: equal for equal configs, whatever files they came from. */
export function configFingerprint(config: Config): string {
  return createHash('sha256').update(JSON.stringify(config)).digest('hex');
}

/**
 * The last good config as kept in the state directory. Schema 2 keeps the files' texts, not
 * the parsed config: on load they are parsed and validated again by this program, so a file
 * written by another version (or edited by hand) is never taken on trust. Schema 1 (the
 * first release's, a parsed config) and unknown schemas are refused.
 */
export const SAVED_SCHEMA = 2;
/** Well above what a config directory's files add up to at 2000 peers. */
export const MAX_SAVED_BYTES = 16 * 1024 * 1024;

export interface SavedConfig {
  savedAt: string;
  /** Of the saved texts, as this program computes it (sourcesDigest). */
  digest: string;
  config: Config;
}

export function encodeSavedConfig(sources: SourceFile[], savedAt: Date = new Date()): string {
  return JSON.stringify({ schema: SAVED_SCHEMA, savedAt: savedAt.toISOString(), sources }) + '\n';
}

export type SavedResult = { ok: true; saved: SavedConfig } | { ok: false; reason: string };

/** Pure: a saved file's text -> the config its texts give now, or why it is not used. */
export function decodeSavedConfig(text: string): SavedResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { ok: false, reason: 'not a saved config' };
  const o = json as Record<string, unknown>;
  if (o.schema === undefined) return { ok: false, reason: `saved by an older version (no schema; this one reads schema ${SAVED_SCHEMA})` };
  if (o.schema !== SAVED_SCHEMA) return { ok: false, reason: `schema ${JSON.stringify(o.schema)}, this version reads schema ${SAVED_SCHEMA}` };
  if (typeof o.savedAt !== 'string' || Number.isNaN(Date.parse(o.savedAt))) return { ok: false, reason: 'savedAt is not a time' };
  const sources = o.sources;
  if (!Array.isArray(sources) || sources.length === 0 || !sources.every((x) => typeof x === 'object' && x !== null && typeof x.path === 'string' && typeof x.text === 'string')) {
    return { ok: false, reason: 'sources is not a list of files (path, text)' };
  }
  const files = (sources as SourceFile[]).map((x) => ({ path: x.path, text: x.text }));
  const r = parseConfig(files);
  if (!r.ok) return { ok: false, reason: `its config does not validate: ${r.issues.slice(0, 3).map(formatIssue).join('; ')}${r.issues.length > 3 ? ` (and ${r.issues.length - 3} more)` : ''}` };
  return { ok: true, saved: { savedAt: o.savedAt, digest: sourcesDigest(files), config: r.config } };
}

/** Read and decode the saved file; `none`: there is none. Never throws. */
export async function readSavedConfig(path: string): Promise<SavedResult | { ok: false; reason: 'none' }> {
  const r = await readConfigFile(path, { maxBytes: MAX_SAVED_BYTES });
  if (!r.ok) return { ok: false, reason: r.reason === 'file not found' ? 'none' : r.reason };
  return decodeSavedConfig(r.text);
}
