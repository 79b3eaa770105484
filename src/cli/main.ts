#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { formatIssue, loadConfig } from '../config/load.js';
import { CommandRunner } from '../kernel/runner.js';
import { isEmptyPlan, renderPlan } from '../plan/plan.js';
import { planNow } from '../daemon/reconcile.js';
import { runDaemon } from './daemon-command.js';
import { importLegacy } from './import-legacy.js';
import { apiGet, apiPost } from './client.js';
import { readToken } from '../api/token.js';
import { renderOperation, renderStatusTable } from './render.js';
import { UsageError, parseApiAddress, type CommonOptions } from './options.js';
import type { OperationResult, StatusReport } from '../daemon/status.js';

const HELP = `vxmesh: keeps a unicast VXLAN mesh between servers reconciled to one peers file

Usage: vxmesh <command> [options]

Commands:
  daemon              run the daemon (what systemd runs)
  status [--json]     show the mesh: node, state, links, loop prevention, last reconcile
  start | stop        bring the mesh up / tear down everything vxmesh owns (stays down until start)
  restart | reload    stop + start / re-read the config and reconcile now
  check [DIR]         validate the config (default: --config); errors as file:line:col
  plan                print the exact commands a reconcile would run now, without running them
  import-legacy FILE  write peers.yaml from vxlansetup.sh scripts (see import-legacy --help)

Options:
  --config DIR        config directory with peers.yaml and peers.d/ (default /etc/vxmesh)
  --node NAME         this server's peer name (default: found by a local address)
  --state-dir DIR     API token and runtime state (default /var/lib/vxmesh)
  --api HOST:PORT     control API address (default 127.0.0.1:7789)
  --json              machine-readable output (status, start, stop, restart, reload)
  --resync SECONDS    daemon: periodic full resync interval (default 30)
  --max-lifetime S    daemon: exit after S seconds, leaving the mesh up (for tests and demos)
  -h, --help          this help

Exit codes: 0 ok, 1 failure (or invalid config for check), 2 usage error.
`;

/** `vxmesh VERB --help`. */
const VERB_HELP: Record<string, string> = {
  daemon: 'Usage: vxmesh daemon [--config DIR] [--state-dir DIR] [--node NAME] [--api HOST:PORT] [--resync S] [--max-lifetime S]\nRun the daemon in the foreground, logging JSON to stdout. SIGTERM/SIGINT exit and leave the mesh up; SIGHUP reloads.\n',
  status: 'Usage: vxmesh status [--json] [--api HOST:PORT]\nShow node, state, links, loop prevention, ingress filter and the last reconcile. Exit 0 when running, 1 otherwise.\n',
  start: 'Usage: vxmesh start [--state-dir DIR] [--api HOST:PORT] [--json]\nBring the mesh up after `vxmesh stop`. Needs the API token in DIR/api-token (root).\n',
  stop: 'Usage: vxmesh stop [--state-dir DIR] [--api HOST:PORT] [--json]\nRemove everything vxmesh owns (devices, its bridge, its ebtables chain, its nft table) and keep it down until `vxmesh start`.\n',
  restart: 'Usage: vxmesh restart [--state-dir DIR] [--api HOST:PORT] [--json]\nStop, then start.\n',
  reload: 'Usage: vxmesh reload [--state-dir DIR] [--api HOST:PORT] [--json]\nRe-read the config now and reconcile (a save does this by itself).\n',
  check: 'Usage: vxmesh check [DIR]\nValidate DIR/peers.yaml and DIR/peers.d/*.yaml (default: --config). Errors as file:line:col: field: message; exit 1 on any.\n',
  plan: 'Usage: vxmesh plan [--config DIR] [--node NAME]\nPrint the exact nft/ip/ebtables commands a reconcile would run now, without running them.\n',
};

async function main(argv: string[]): Promise<number> {
  // import-legacy has options of its own.
  if (argv[0] === 'import-legacy') return importLegacy(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', default: '/etc/vxmesh' },
        node: { type: 'string' },
        'state-dir': { type: 'string', default: '/var/lib/vxmesh' },
        api: { type: 'string', default: '127.0.0.1:7789' },
        json: { type: 'boolean', default: false },
        resync: { type: 'string', default: '30' },
        'max-lifetime': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [verb, ...rest] = positionals;
  if (values.help || verb === 'help') {
    const topic = verb === 'help' ? rest[0] : verb;
    process.stdout.write((topic && VERB_HELP[topic]) || HELP);
    return 0;
  }
  if (!verb) throw new UsageError('missing command');
  const common: CommonOptions = {
    configDir: values.config,
    stateDir: values['state-dir'],
    node: values.node,
    api: parseApiAddress(values.api),
  };
  const expectArgs = (max: number) => {
    if (rest.length > max) throw new UsageError(`${verb}: unexpected argument "${rest[max]}"`);
  };
  switch (verb) {
    case 'daemon': {
      expectArgs(0);
      const resync = Number(values.resync);
      const lifetime = values['max-lifetime'] === undefined ? undefined : Number(values['max-lifetime']);
      if (!(resync > 0)) throw new UsageError('--resync must be a positive number of seconds');
      if (lifetime !== undefined && !(lifetime > 0)) throw new UsageError('--max-lifetime must be a positive number of seconds');
      return runDaemon(common, { resyncMs: resync * 1000, maxLifetimeMs: lifetime === undefined ? undefined : lifetime * 1000 });
    }
    case 'check':
      expectArgs(1);
      return check(rest[0] ?? common.configDir);
    case 'plan':
      expectArgs(0);
      return plan(common);
    case 'status': {
      expectArgs(0);
      const s = (await apiGet(common.api, '/status')) as StatusReport;
      process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : renderStatusTable(s));
      return s.state === 'running' ? 0 : 1;
    }
    case 'start':
    case 'stop':
    case 'restart':
    case 'reload': {
      expectArgs(0);
      const token = await readToken(common.stateDir);
      const r = (await apiPost(common.api, `/${verb}`, token)) as OperationResult;
      process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : renderOperation(r));
      return r.ok ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command "${verb}"`);
  }
}

async function check(dir: string): Promise<number> {
  const r = await loadConfig(dir);
  if (!r.ok) {
    for (const i of r.issues) process.stderr.write(`${formatIssue(i)}\n`);
    process.stderr.write(`${r.issues.length} error${r.issues.length === 1 ? '' : 's'} in ${dir}\n`);
    return 1;
  }
  const c = r.config;
  const m = c.mesh;
  const mode = m.mode === 'per-peer' ? `mode per-peer, loop prevention ${m.loopPrevention}` : `mode ${m.mode}, device ${m.device}, vni ${m.vni}${m.group ? `, group ${m.group}${m.ttl ? ` ttl ${m.ttl}` : ''}` : ''}, no loop prevention needed`;
  process.stdout.write(`ok: ${c.files.length} file(s), ${c.peers.length} peers, bridge ${m.bridge}, mtu ${m.mtu}, port ${m.port}, ${mode}\n`);
  for (const w of c.warnings) process.stdout.write(`warning: ${w}\n`);
  return 0;
}

async function plan(common: CommonOptions): Promise<number> {
  const r = await loadConfig(common.configDir);
  if (!r.ok) {
    for (const i of r.issues) process.stderr.write(`${formatIssue(i)}\n`);
    return 1;
  }
  const runner = new CommandRunner(pino({ level: 'silent' }));
  const now = await planNow(runner, { kind: 'mesh', config: r.config, node: common.node });
  if (!now.plan) {
    process.stderr.write(`cannot plan: ${now.waiting}\n`);
    return 1;
  }
  for (const b of now.plan.blocked) process.stderr.write(`blocked: ${b}\n`);
  process.stdout.write(isEmptyPlan(now.plan) ? '# nothing to do: the kernel matches the config\n' : renderPlan(now.plan) + '\n');
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`vxmesh: ${err.message}\nRun 'vxmesh --help' for usage.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`vxmesh: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
