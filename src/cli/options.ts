/** Options common to every verb, with the defaults ../shared/DESIGN.md gives. */
export interface CommonOptions {
  configDir: string;
  stateDir: string;
  /** Where the API's Unix socket is (resolveRunDir: /run/vxmesh, or the state dir in tests). */
  runDir: string;
  node: string | undefined;
  api: { host: string; port: number };
}

export class UsageError extends Error {}

export function parseApiAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new UsageError(`--api must be HOST:PORT (e.g. 127.0.0.1:7789 or [::1]:7789), got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}
