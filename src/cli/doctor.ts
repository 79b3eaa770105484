/**
 * `vxmesh doctor`: checks this host before anything is changed. It only reads (the config,
 * `ip -j addr`, /proc/net/udp, `ebtables -L`, `nft list tables`, the token file); the one
 * thing it creates, a bridge and a VXLAN device to prove the kernel supports them, lives in a
 * throwaway network namespace of its own (`unshare --net`) that vanishes with the process.
 */
import { readFile, stat } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { pino } from 'pino';
import { formatIssue, loadConfig } from '../config/load.js';
import { describeBackend, findInPath, NO_BACKEND_FIX, probeEbtablesBackend } from '../kernel/ebtables-backend.js';
import { CommandError, CommandRunner } from '../kernel/runner.js';
import { parseIpLinks } from '../kernel/parse.js';
import { localAddresses, type LinkInfo } from '../model/state.js';
import { findSelf } from '../plan/desired.js';
import { readToken, tokenPath } from '../api/token.js';
import { isOwnedAlias } from '../model/names.js';
import type { Config } from '../model/types.js';
import { EXIT } from './exit-codes.js';
import { probeWireguard } from '../kernel/wireguard-probe.js';
import { wireguardMtuVerdict, wireguardVerdict } from './doctor-checks.js';
import { frrChecks } from './doctor-frr.js';
import { bridgeRaVerdict, failedBatchLine, kernelVerdict, linkLocalRouteVerdict, KERNEL_PROBE_LINES, mtuVerdict, portVerdict, renderCheck, summarize, udpPortUsers, vxlanPortConflict, type DoctorCheck } from './doctor-checks.js';
import type { CommonOptions } from './options.js';

export async function doctorCommand(common: CommonOptions, json: boolean): Promise<number> {
  const checks = await runChecks(common);
  const ok = !checks.some((c) => c.severity === 'problem');
  if (json) process.stdout.write(JSON.stringify({ ok, checks }, null, 2) + '\n');
  else process.stdout.write([...checks.map(renderCheck), summarize(checks)].join('\n') + '\n');
  return ok ? EXIT.ok : EXIT.failure;
}

export async function runChecks(common: CommonOptions): Promise<DoctorCheck[]> {
  const runner = new CommandRunner(pino({ level: 'silent' }));
  const root = process.geteuid?.() === 0;
  const loaded = await loadConfig(common.configDir);
  const config = loaded.ok ? loaded.config : undefined;
  const checks: DoctorCheck[] = [configCheck(common.configDir, loaded)];
  if (!root) {
    checks.push({ name: 'privileges', severity: 'warning', message: 'not run as root: the kernel, ebtables and nft checks need root and were skipped', fix: 'run `vxmesh doctor` as root' });
  } else {
    checks.push(await kernelCheck(runner, config?.mesh.loopPrevention === 'isolated'));
    checks.push(...(await ebtablesChecks(runner, config)));
    checks.push(await nftCheck(runner, config));
    if (config?.mesh.encryption === 'wireguard') checks.push(wireguardVerdict(await probeWireguard(runner)));
  }
  let links: Map<string, LinkInfo> | undefined;
  try {
    links = parseIpLinks(await runner.run('ip', ['-j', '-d', '-s', 'addr', 'show']));
  } catch (err) {
    checks.push({ name: 'underlay', severity: 'problem', message: `cannot read the interfaces: ${message(err)}`, fix: 'install iproute2' });
  }
  if (config && links) {
    checks.push(...underlayChecks(config, common.node, links));
    checks.push(await portCheck(config.mesh.port, links));
    checks.push(...(await meshHostChecks(runner, config, common.node, links)));
  } else if (!config) {
    checks.push({ name: 'underlay', severity: 'warning', message: 'skipped: needs a valid config', fix: 'fix the config first' });
  }
  if (config?.mesh.control === 'evpn') checks.push(...(await frrChecks(runner, config.mesh.bgp?.frrPathspace)));
  checks.push(await tokenCheck(common.stateDir));
  return checks;
}

function configCheck(dir: string, r: Awaited<ReturnType<typeof loadConfig>>): DoctorCheck {
  if (r.ok) {
    const c = r.config;
    return { name: 'config', severity: 'ok', message: `${dir}: ${c.files.length} file(s), ${c.peers.length} peers, mtu ${c.mesh.mtu}, port ${c.mesh.port}, loop prevention ${c.mesh.loopPrevention}` };
  }
  return { name: 'config', severity: 'problem', message: `${dir} is invalid: ${r.issues.map(formatIssue).join('; ')}`, fix: `correct it at the place named (\`vxmesh check ${dir}\` lists every error)` };
}

/** A bridge with an isolated VXLAN port, made in a network namespace that exists only for this process. */
async function kernelCheck(runner: CommandRunner, isolatedMode: boolean): Promise<DoctorCheck> {
  const input = KERNEL_PROBE_LINES.map((l) => l.line).join('\n') + '\n';
  try {
    await runner.run('unshare', ['--net', 'ip', '-batch', '-'], { input, timeoutMs: 10_000 });
    return kernelVerdict(undefined, '', isolatedMode);
  } catch (err) {
    const stderr = err instanceof CommandError ? err.stderr : message(err);
    const line = failedBatchLine(stderr);
    if (line === undefined) {
      return { name: 'kernel', severity: 'warning', message: `could not try it in a throwaway namespace: ${firstLine(stderr)}`, fix: 'install util-linux (unshare), or check by hand: `modinfo vxlan bridge`' };
    }
    return kernelVerdict(line, firstLine(stderr.replace(/Command failed -:\d+/, '')) || 'error', isolatedMode);
  }
}

async function ebtablesChecks(runner: CommandRunner, config: Config | undefined): Promise<DoctorCheck[]> {
  const isolated = config?.mesh.loopPrevention === 'isolated';
  const choice = await probeEbtablesBackend(runner);
  const b = choice.backend;
  if (!b) {
    if (isolated) return [{ name: 'ebtables', severity: 'ok', message: 'no working ebtables, none needed with loop_prevention: isolated' }];
    return [{ name: 'ebtables', severity: 'problem', message: `${choice.problem!.replace(`: ${NO_BACKEND_FIX}`, '')}; no VXLAN port would join the bridge`, fix: NO_BACKEND_FIX }];
  }
  const checks: DoctorCheck[] = [{ name: 'ebtables', severity: 'ok', message: `backend ${describeBackend(b)}, with ${b.save} and ${b.restore}${isolated ? ' (not needed with loop_prevention: isolated)' : ''}` }];
  // vxmesh calls its backend by name; a plain `ebtables` that fails here trips people and scripts.
  const plain = findInPath('ebtables');
  const chosen = findInPath(b.ebtables);
  if (plain && chosen && realpathSync(plain) !== realpathSync(chosen)) {
    const err = await runner.run('ebtables', ['-t', 'filter', '-L'], { timeoutMs: 5000 }).then(() => undefined, (e: unknown) => (e instanceof CommandError ? e.stderr : message(e)));
    if (err !== undefined) {
      checks.push({
        name: 'ebtables (plain name)',
        severity: 'warning',
        message: `\`ebtables\` (${realpathSync(plain)}) fails here (${firstLine(err)}); vxmesh does not use it, but scripts and people typing \`ebtables\` do`,
        fix: `point it at the working backend: \`update-alternatives --set ebtables ${chosen}\``,
      });
    }
  }
  return checks;
}

async function nftCheck(runner: CommandRunner, config: Config | undefined): Promise<DoctorCheck> {
  try {
    await runner.run('nft', ['list', 'tables'], { timeoutMs: 5000 });
    return { name: 'nft', severity: 'ok', message: 'nft works (ingress filter table inet vxmesh, change monitor)' };
  } catch (err) {
    const needed = config?.mesh.ingressFilter !== false;
    return {
      name: 'nft',
      severity: needed ? 'problem' : 'warning',
      message: `nft does not work: ${firstLine(err instanceof CommandError ? err.stderr : message(err))}${needed ? '; the VXLAN port would be open to any sender' : ''}`,
      fix: needed ? 'install nftables (Debian/Ubuntu: `apt-get install nftables`), or set ingress_filter: false' : 'install nftables so changes by other tools are seen at once rather than at the next resync',
    };
  }
}

function underlayChecks(config: Config, node: string | undefined, links: Map<string, LinkInfo>): DoctorCheck[] {
  const self = findSelf(config, node, localAddresses(links));
  if (!self.ok) {
    const named = node ?? config.node;
    const peer = named === undefined ? undefined : config.peers.find((p) => p.name === named);
    const fix = peer
      ? `assign ${peer.address} to the underlay interface (\`ip addr add ${peer.address}/<prefix> dev <underlay>\`, and in its network config); the daemon waits for it`
      : named !== undefined
        ? `name a peer of the config with --node or node: in a peers.d drop-in (peers: ${config.peers.map((p) => p.name).join(', ')})`
        : 'assign this server\'s peer address to its underlay interface, or name the peer with node: in a peers.d drop-in (or --node)';
    return [{ name: 'underlay', severity: 'problem', message: self.reason, fix }];
  }
  const dev = links.get(self.underlay);
  if (!dev) {
    return [{ name: 'underlay', severity: 'problem', message: `underlay device ${self.underlay} (dev: of ${self.self.name}) does not exist`, fix: `create it, or correct dev: for ${self.self.name} (${self.local} is on ${localAddresses(links).get(self.local) ?? 'no interface'})` }];
  }
  const checks: DoctorCheck[] = [
    dev.up
      ? { name: 'underlay', severity: 'ok', message: `${self.self.name} on ${dev.name} ${self.local}` }
      : { name: 'underlay', severity: 'warning', message: `${self.self.name} on ${dev.name} ${self.local}, but ${dev.name} is down`, fix: `\`ip link set dev ${dev.name} up\`` },
  ];
  checks.push(config.mesh.encryption === 'wireguard' ? wireguardMtuVerdict(dev.name, dev.mtu, config.mesh.mtu, self.self.family) : mtuVerdict(dev.name, dev.mtu, config.mesh.mtu, self.self.family));
  return checks;
}

async function portCheck(port: number, links: Map<string, LinkInfo>): Promise<DoctorCheck> {
  // /proc/net is this network namespace's view, the one the daemon's devices will live in.
  const texts = await Promise.all(['/proc/net/udp', '/proc/net/udp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const sockets = texts.reduce((n, t) => n + udpPortUsers(t, port), 0);
  const up = [...links.values()].filter((l) => l.vxlan?.port === port && l.up);
  const owned = up.filter((l) => isOwnedAlias(l.alias)).length;
  return portVerdict(port, sockets, { owned, foreign: up.length - owned });
}

/** Other VXLAN users of the port, and the bridge's IPv6 autoconfiguration and link-local routes. */
async function meshHostChecks(runner: CommandRunner, config: Config, node: string | undefined, links: Map<string, LinkInfo>): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const v = vxlanPortConflict(config, node, links);
  if (v) out.push(v);
  const bridge = config.mesh.bridge;
  const sys = (key: string) => readFile(`/proc/sys/net/ipv6/conf/${bridge}/${key}`, 'utf8').catch(() => undefined);
  const ra = bridgeRaVerdict(bridge, await sys('accept_ra'), await sys('autoconf'));
  if (ra) out.push(ra);
  const routes = await runner.run('ip', ['-j', 'route', 'show', 'table', 'all']).then((t) => JSON.parse(t || '[]') as { dst?: string; dev?: string }[], () => []);
  const ll = linkLocalRouteVerdict(bridge, routes);
  if (ll) out.push(ll);
  return out;
}

async function tokenCheck(stateDir: string): Promise<DoctorCheck> {
  const path = tokenPath(stateDir);
  let mode: number;
  try {
    mode = (await stat(path)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { name: 'api token', severity: 'ok', message: `${path} not created yet: the daemon creates it (0600) at first start` };
    return { name: 'api token', severity: 'problem', message: `cannot read ${path}: ${message(err)}`, fix: 'run as root' };
  }
  try {
    await readToken(stateDir);
  } catch (err) {
    return { name: 'api token', severity: 'problem', message: message(err), fix: 'run as root, or restart the daemon to recreate a damaged token' };
  }
  if (mode & 0o077) {
    return { name: 'api token', severity: 'warning', message: `${path} has mode ${mode.toString(8)}: others may read it and change the network`, fix: `\`chmod 600 ${path}\` (the daemon also tightens it at start)` };
  }
  return { name: 'api token', severity: 'ok', message: `${path} is readable here (mode 600)` };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.trim() ?? '';
}
