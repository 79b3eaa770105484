/**
 * `vxmesh import-legacy`: the peers file for a fleet that runs vxlansetup.sh today.
 * Reads each server's script (or environment file, or this process's environment),
 * writes one peers file describing every such server as a legacy peer, and reports
 * links whose two ends use different VNIs and which servers can move first.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { importLegacyServers, type LegacyInput } from '../legacy/import.js';
import { parseLegacyEnv, parseLegacyText, type ParseResult } from '../legacy/parse.js';
import { pathExists } from '../util/fs.js';
import { PEER_NAME } from '../model/names.js';

export const IMPORT_LEGACY_HELP = `Usage: vxmesh import-legacy [options] [NAME=]FILE...

Writes the shared peers file for servers that still run vxlansetup.sh.
Each FILE is one server's vxlansetup.sh (or a file of NAME=VALUE lines); the
variables LOCALIP, REMOTEIPS, LOCAL_DEV, BRIDGE_DEV, VXLAN_DEV and PORT are read
from it, and from the environment where the script defers to it (\${LOCALIP:-...}).
Every server becomes a peer with \`legacy: { remotes: [REMOTEIPS] }\`; addresses
that only appear in REMOTEIPS become plain (vxmesh) peers. Peer ids follow the
address order; NAME= names the peer (default: the file name without .sh, or
peer<id> when the file is called vxlansetup.sh).

The report on stderr lists links whose two ends use different VNIs today (they
work only through VXLAN learning), links only one end has, and which servers can
move to vxmesh now without a VNI clash.

Options:
  --env             also read one server from this process's environment
  --env-name NAME   peer name for the --env server
  -o, --output FILE write the peers file to FILE instead of stdout
  --force           overwrite FILE if it exists
  -h, --help        this help

Exit codes: 0 written (findings are informational), 1 a script could not be
read or the scripts contradict each other, 2 usage error.
`;

export async function importLegacy(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        env: { type: 'boolean', default: false },
        'env-name': { type: 'string' },
        output: { type: 'string', short: 'o' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(IMPORT_LEGACY_HELP);
    return 0;
  }
  if (positionals.length === 0 && !values.env) return usage('give at least one script file, or --env');
  if (values['env-name'] !== undefined && !values.env) return usage('--env-name needs --env');

  const inputs: LegacyInput[] = [];
  let failed = false;
  const take = (r: ParseResult, name: string | undefined) => {
    if (r.ok) inputs.push({ server: r.server, ...(name !== undefined ? { name } : {}) });
    else {
      failed = true;
      for (const p of r.problems) process.stderr.write(`${p.source}${p.line > 0 ? `:${p.line}` : ''}: ${p.message}\n`);
    }
  };
  for (const arg of positionals) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$/.exec(arg);
    const path = m ? m[2]! : arg;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      process.stderr.write(`vxmesh import-legacy: cannot read ${path}: ${(err as Error).message}\n`);
      failed = true;
      continue;
    }
    take(parseLegacyText(text, path, env), m ? m[1] : nameFromPath(path));
  }
  if (values.env) take(parseLegacyEnv(env), values['env-name']);
  if (failed) return 1;

  const r = importLegacyServers(inputs);
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`vxmesh import-legacy: ${e}\n`);
    return 1;
  }
  for (const f of r.findings) process.stderr.write(`${f.kind}: ${f.message}\n`);
  const legacyCount = r.peers.filter((p) => p.remotes).length;
  process.stderr.write(`${r.peers.length} peers (${legacyCount} on vxlansetup.sh), bridge ${r.mesh.bridge}, port ${r.mesh.port}\n`);

  if (values.output === undefined) {
    process.stdout.write(r.yaml);
    return 0;
  }
  const out = values.output;
  if (!values.force && (await pathExists(out))) {
    process.stderr.write(`vxmesh import-legacy: ${out} exists; use --force to overwrite it\n`);
    return 1;
  }
  const tmp = `${out}.${process.pid}.tmp`;
  await writeFile(tmp, r.yaml, { mode: 0o644 });
  await rename(tmp, out);
  process.stderr.write(`wrote ${out}\n`);
  return 0;
}

/** `lxd1.sh` -> lxd1; `lxd1/vxlansetup.sh` -> lxd1; plain `vxlansetup.sh` -> none (peer<id>). */
export function nameFromPath(path: string): string | undefined {
  const stem = basename(path).replace(/\.(sh|env|conf)$/, '');
  const candidate = /^vxlansetup$/i.test(stem) ? basename(dirname(path)) : stem;
  return PEER_NAME.test(candidate) && candidate !== '.' ? candidate : undefined;
}

function usage(message: string): number {
  process.stderr.write(`vxmesh import-legacy: ${message}\nRun 'vxmesh import-legacy --help' for usage.\n`);
  return 2;
}

