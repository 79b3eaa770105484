import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Runner } from './runner.js';

import type { EbtablesBackend, EbtablesChoice } from '../model/ebtables.js';

export type { EbtablesBackend, EbtablesChoice };

/**
 * Which backend the plain `ebtables` name means is a distribution's choice
 * (update-alternatives), so vxmesh never relies on it blindly: it probes once at start.
 */
export const NFT_BACKEND: EbtablesBackend = { name: 'nft', ebtables: 'ebtables-nft', save: 'ebtables-nft-save', restore: 'ebtables-nft-restore' };
export const LEGACY_BACKEND: EbtablesBackend = { name: 'legacy', ebtables: 'ebtables-legacy', save: 'ebtables-legacy-save', restore: 'ebtables-legacy-restore' };
/** The plain names: legacy on hosts that have no suffixed names, or whatever the alternatives point at. */
export const PLAIN_BACKEND: EbtablesBackend = { name: 'legacy', ebtables: 'ebtables', save: 'ebtables-save', restore: 'ebtables-restore' };

/** Tried in this order: nf_tables first, because it is the one that works with CAP_NET_ADMIN alone and on every kernel. */
const CANDIDATES = [NFT_BACKEND, LEGACY_BACKEND, PLAIN_BACKEND];

export const NO_BACKEND_FIX =
  'install the package that provides ebtables-nft (Debian/Ubuntu: `apt-get install iptables`), ' +
  'or set `loop_prevention: isolated` in the mesh config';

const PROBE_TIMEOUT_MS = 5000;

/** The first executable `name` in PATH, as the runner will find it (no process spawned). */
export function findInPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** How the plain `ebtables` names itself: "ebtables 1.8.9 (nf_tables)" or "ebtables v2.0.11 (legacy)". */
export function parseEbtablesVersion(text: string): 'nft' | 'legacy' {
  return /nf_tables/.test(text) ? 'nft' : 'legacy';
}

/**
 * Pick the backend that works here: its three commands exist and listing the filter table
 * succeeds (which reads, creates nothing, and fails at once where the kernel lacks the
 * backend's support). Usually one process: `ebtables-nft -t filter -L`.
 */
export async function probeEbtablesBackend(runner: Runner): Promise<EbtablesChoice> {
  const tried: string[] = [];
  for (const c of CANDIDATES) {
    const missing = [c.ebtables, c.save, c.restore].filter((cmd) => findInPath(cmd) === undefined);
    if (missing.length) {
      tried.push(`${missing.join(', ')}: not found`);
      continue;
    }
    try {
      await runner.run(c.ebtables, ['-t', 'filter', '-L'], { timeoutMs: PROBE_TIMEOUT_MS });
    } catch (err) {
      tried.push(`${c.ebtables}: ${describeFailure(err)}`);
      continue;
    }
    if (c !== PLAIN_BACKEND) return { backend: c, problem: undefined };
    const version = await runner.run(c.ebtables, ['--version'], { timeoutMs: PROBE_TIMEOUT_MS }).catch(() => '');
    return { backend: { ...c, name: parseEbtablesVersion(version) }, problem: undefined };
  }
  return { backend: undefined, problem: `no working ebtables (${tried.join('; ')}): ${NO_BACKEND_FIX}` };
}

function describeFailure(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() ? stderr : err instanceof Error ? err.message : String(err);
  return text.trim().split('\n')[0] ?? 'failed';
}

/** One line for people: "nft (ebtables-nft)". */
export function describeBackend(b: EbtablesBackend): string {
  return `${b.name} (${b.ebtables})`;
}
