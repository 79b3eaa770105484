import { createHash } from 'node:crypto';
import { parseConfig, readSources, type LoadResult, type SourceFile } from './load.js';
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
  private last: { digest: string; result: LoadResult } | undefined;

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

  /** Never throws, like loadConfig. */
  async load(): Promise<LoadResult> {
    const r = await readSources(this.dir);
    if (!r.ok) {
      this.last = undefined;
      return r.result;
    }
    const digest = sourcesDigest(r.sources);
    if (this.last?.digest === digest) return this.last.result;
    const result = parseConfig(r.sources);
    this.last = { digest, result };
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
