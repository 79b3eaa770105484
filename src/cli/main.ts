#!/usr/bin/env node
/**
 * The `vxmesh` command: parses the arguments and loads only the module of the verb it runs
 * (`status` needs node:http and a renderer, not the daemon, the API server or the planner).
 */
import { parseArgs } from 'node:util';
import { EXIT } from './exit-codes.js';
import { UsageError, parseApiAddress, type CommonOptions } from './options.js';
import { VERSION } from '../version.js';
import { resolveRunDir } from '../api/run-dir.js';

const HELP = `vxmesh: keeps a unicast VXLAN mesh between servers reconciled to one peers file

Usage: vxmesh <command> [options]

Commands:
  daemon              run the daemon (what systemd runs)
  status [--json]     show the mesh: node, state, links, loop prevention, last reconcile
  start | stop        bring the mesh up / tear down everything vxmesh owns (stays down until start)
  restart | reload    stop + start / re-read the config and reconcile now
  check [DIR] [--json]  validate the config (default: --config); errors as file:line:col
  plan                print the exact commands a reconcile would run now, without running them
  doctor [--json]     check this host before anything is changed: kernel, ebtables, nft,
                      underlay and its MTU, the UDP port, the config, the API token
  keygen              make this server's WireGuard key in --state-dir if it has none; print its public key
  pubkey              print this server's WireGuard public key (for its peer entry's public_key:)
  wait-ready          wait until the bridge is up with loop prevention (see wait-ready --help)
  import-legacy FILE  write peers.yaml from vxlansetup.sh scripts (see import-legacy --help)

Options:
  --config DIR        config directory with peers.yaml and peers.d/ (default /etc/vxmesh)
  --node NAME         this server's peer name (default: found by a local address)
  --state-dir DIR     API token and runtime state (default /var/lib/vxmesh)
  --run-dir DIR       the API's Unix socket DIR/api.sock, which the CLI talks to (default
                      /run/vxmesh; with another --state-dir: that directory)
  --api HOST:PORT     daemon: loopback TCP address of the API for curl (default 127.0.0.1:7789)
  --json              machine-readable output (status, check, doctor, start, stop, restart, reload)
  --resync SECONDS    daemon: periodic full resync interval (default 30)
  --max-lifetime S    daemon: exit after S seconds, leaving the mesh up (for tests and demos)
  -V, --version       print the version
  -h, --help          this help

Exit codes: 0 ok; 1 the mesh is degraded or stopped, an operation failed, the config is
invalid, or doctor found a problem; 2 usage error; 3 the daemon is not running.
`;

/** `vxmesh VERB --help`. */
const VERB_HELP: Record<string, string> = {
  daemon: 'Usage: vxmesh daemon [--config DIR] [--state-dir DIR] [--run-dir DIR] [--node NAME] [--api HOST:PORT] [--resync S] [--max-lifetime S]\nRun the daemon in the foreground, logging JSON to stdout (with syslog priority prefixes when stdout is the journal). SIGTERM/SIGINT exit and leave the mesh up; SIGHUP reloads.\n',
  status: 'Usage: vxmesh status [--json] [--state-dir DIR] [--run-dir DIR]\nShow node, state, links, loop prevention, ingress filter and the last reconcile. Exit 0 when running, 1 when degraded or stopped, 3 when the daemon is not running.\n',
  start: 'Usage: vxmesh start [--state-dir DIR] [--run-dir DIR] [--json]\nBring the mesh up after `vxmesh stop`, through the API socket (root or the daemon user). Exit 3 when the daemon is not running.\n',
  stop: 'Usage: vxmesh stop [--state-dir DIR] [--run-dir DIR] [--json]\nRemove everything vxmesh owns (devices, its bridge, its ebtables chain, its nft table) and keep it down until `vxmesh start`.\n',
  restart: 'Usage: vxmesh restart [--state-dir DIR] [--run-dir DIR] [--json]\nStop, then start.\n',
  reload: 'Usage: vxmesh reload [--state-dir DIR] [--run-dir DIR] [--json]\nRe-read the config now and reconcile (a save does this by itself). Exit 1 when the config is invalid (the mesh keeps the last good one).\n',
  check: 'Usage: vxmesh check [DIR] [--json]\nValidate DIR/peers.yaml and DIR/peers.d/*.yaml (default: --config). Errors as file:line:col: field: message; exit 1 on any. As root it also says when no ebtables works on this host.\n',
  plan: 'Usage: vxmesh plan [--config DIR] [--node NAME] [--state-dir DIR]\nPrint the exact nft/ip/ebtables/wg commands a reconcile would run now, without running them.\n',
  doctor: 'Usage: vxmesh doctor [--config DIR] [--node NAME] [--state-dir DIR] [--json]\nCheck this host before anything is changed: kernel support (vxlan, bridge, port isolation), the ebtables backend and nft, the underlay device and its MTU, the UDP port, the config, the API token. One line per check: ok, warning or problem with its fix. Exit 1 on a problem.\n',
};

VERB_HELP.keygen = 'Usage: vxmesh keygen [--state-dir DIR]\nMake DIR/wireguard.key (0600) if it does not exist (an existing key is never replaced), and print its public key on stdout. The daemon makes it by itself at first start with mesh.encryption: wireguard.\n';
VERB_HELP.pubkey = 'Usage: vxmesh pubkey [--state-dir DIR]\nPrint this server\'s WireGuard public key: what its peer entry needs as public_key:. Exit 1 when there is no key yet (see keygen).\n';

const OPERATIONS = ['start', 'stop', 'restart', 'reload'] as const;

async function main(argv: string[]): Promise<number> {
  // import-legacy has options of its own.
  if (argv[0] === 'import-legacy') return (await import('./import-legacy.js')).importLegacy(argv.slice(1));
  if (argv[0] === 'wait-ready') return (await import('./wait-ready.js')).waitReady(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', default: '/etc/vxmesh' },
        node: { type: 'string' },
        'state-dir': { type: 'string', default: '/var/lib/vxmesh' },
        'run-dir': { type: 'string' },
        api: { type: 'string', default: '127.0.0.1:7789' },
        json: { type: 'boolean', default: false },
        resync: { type: 'string', default: '30' },
        'max-lifetime': { type: 'string' },
        version: { type: 'boolean', short: 'V', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const [verb, ...rest] = positionals;
  if (values.version || verb === 'version') {
    process.stdout.write(`vxmesh ${VERSION}\n`);
    return EXIT.ok;
  }
  if (values.help || verb === 'help') {
    const topic = verb === 'help' ? rest[0] : verb;
    process.stdout.write((topic && VERB_HELP[topic]) || HELP);
    return EXIT.ok;
  }
  if (!verb) throw new UsageError('missing command');
  const common: CommonOptions = {
    configDir: values.config,
    stateDir: values['state-dir'],
    runDir: resolveRunDir(values['state-dir'], values['run-dir']),
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
      // Before the daemon's modules are loaded and compiled (see node-flags.ts).
      (await import('../daemon/node-flags.js')).applyDaemonV8Flags();
      const { runDaemon } = await import('./daemon-command.js');
      return runDaemon(common, { resyncMs: resync * 1000, maxLifetimeMs: lifetime === undefined ? undefined : lifetime * 1000 });
    }
    case 'check':
      expectArgs(1);
      return (await import('./check-command.js')).checkCommand(rest[0] ?? common.configDir, values.json);
    case 'plan':
      expectArgs(0);
      return (await import('./plan-command.js')).planCommand(common);
    case 'doctor':
      expectArgs(0);
      return (await import('./doctor.js')).doctorCommand(common, values.json);
    case 'keygen':
    case 'pubkey':
      expectArgs(0);
      return (await import('./key-command.js')).keyCommand(verb, common.stateDir);
    case 'status':
      expectArgs(0);
      return (await import('./status-command.js')).statusCommand(common, values.json);
    default:
      if ((OPERATIONS as readonly string[]).includes(verb)) {
        expectArgs(0);
        return (await import('./operation-command.js')).operationCommand(common, verb as (typeof OPERATIONS)[number], values.json);
      }
      throw new UsageError(`unknown command "${verb}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`vxmesh: ${err.message}\nRun 'vxmesh --help' for usage.\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`vxmesh: ${err instanceof Error ? err.message : String(err)}\n`);
      // Errors that know their exit code (the daemon is not running: 3) carry it.
      const code = (err as { exitCode?: unknown }).exitCode;
      process.exitCode = typeof code === 'number' ? code : EXIT.failure;
    }
  },
);
