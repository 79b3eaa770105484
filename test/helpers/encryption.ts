import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ns, run, statusJson, vxlanLinks, waitFor, type Lab, type Server } from './lab.js';
import { DEFAULT_BRIDGE } from '../../src/model/names.js';

/**
 * Encrypted meshes in the lab. Tunnel addresses come from 100.127.0.0/16 (inside the overlay
 * range 100.64.0.0/10 the tests may use, away from the containers' 100.64.0.0/24).
 * wireguard-go's control socket is /var/run/wireguard/<device>.sock, one directory for every
 * network namespace: each lab server names its WireGuard interface differently (a per-server
 * drop-in, as the Ansible role writes them), so two servers' sockets never collide.
 */
export const TUNNEL_RANGE = '100.127.0.0/16';
export const tunnelOf = (id: number) => `100.127.0.${id}`;

/** The tools these tests need: missing ones fail the test, naming the package. */
export async function requireTools(): Promise<void> {
  for (const [tool, args, pkg] of [['wg', ['--version'], 'wireguard-tools'], ['wireguard-go', ['--version'], 'wireguard-go'], ['tcpdump', ['--version'], 'tcpdump']] as const) {
    const r = await execa(tool, [...args], { reject: false, timeout: 10_000 });
    if (r.failed) throw new Error(`${tool} is needed by the encryption tests and does not run (${r.shortMessage}): apt-get install ${pkg}`);
  }
}

let labSeq = 0;

/** Per-lab-server interface names, unique on the machine (pid and lab), at most 15 characters. */
export function wgDeviceNames(lab: Lab): (s: Server) => string {
  const tag = `${process.pid % 100000}${labSeq++ % 10}`;
  return (s) => {
    const name = `vxwg${tag}s${s.index}`;
    // A wireguard-go killed with SIGKILL (as cleanup does) leaves its socket behind.
    lab.removeAtCleanup(`/var/run/wireguard/${name}.sock`);
    return name;
  };
}

export interface EncryptedLab {
  keys: Map<number, string>;
  device: (s: Server) => string;
  /** Write every server's config (peers.yaml and its device drop-in), `keyOf` overriding what a server lists for a peer. */
  writeAll(mesh: Record<string, unknown>, keyOf?: (writer: Server, peer: Server) => string): void;
}

/** `vxmesh keygen` in each server's state directory, the public keys collected with `vxmesh pubkey`, as the Ansible role does. */
export async function keygenAll(lab: Lab): Promise<Map<number, string>> {
  const keys = new Map<number, string>();
  for (const s of lab.servers) {
    await run(process.execPath, [CLI, 'keygen', '--state-dir', s.stateDir]);
    keys.set(s.index, (await run(process.execPath, [CLI, 'pubkey', '--state-dir', s.stateDir])).trim());
  }
  return keys;
}

export function peersFile(servers: Server[], mesh: Record<string, unknown>, key: (peer: Server) => string | undefined): string {
  const meshLines = Object.entries(mesh).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  const peers = servers.map((p) => {
    const k = key(p);
    return `  - { name: srv${p.index}, id: ${p.index}, address: "${p.address}"${k ? `, public_key: "${k}"` : ''} }`;
  });
  return ['mesh:', ...meshLines, 'peers:', ...peers, ''].join('\n');
}

export async function encryptedLab(lab: Lab): Promise<EncryptedLab> {
  const keys = await keygenAll(lab);
  const device = wgDeviceNames(lab);
  return {
    keys,
    device,
    writeAll(mesh, keyOf) {
      for (const s of lab.servers) {
        lab.writeConfig(s, `mesh:\n  wireguard: { device: ${device(s)} }\n`, 'peers.d/local.yaml');
        lab.writeConfig(s, peersFile(lab.servers, mesh, (p) => (keyOf ? keyOf(s, p) : keys.get(p.index))));
      }
    },
  };
}

/** The mesh settings of an encrypted lab. */
export function encryptedMesh(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { encryption: 'wireguard', wireguard: { tunnel_range: TUNNEL_RANGE }, ...extra };
}

/** Servers 1..n on an underlay of `underlayMtu`, encrypted, daemons running, `remotes` ports up. */
export async function buildEncryptedMesh(lab: Lab, n: number, opts: { underlayMtu?: number; mesh?: Record<string, unknown>; containerMtu?: number; containers?: boolean; family?: 4 | 6 } = {}): Promise<EncryptedLab> {
  await requireTools();
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i, { mtu: opts.underlayMtu ?? 1560, family: opts.family ?? 4 });
  const enc = await encryptedLab(lab);
  enc.writeAll(encryptedMesh(opts.mesh));
  for (const s of lab.servers) lab.startDaemon(s);
  const single = opts.mesh?.mode !== undefined && opts.mesh.mode !== 'per-peer';
  for (const s of lab.servers) await waitForEncrypted(s, single ? 1 : n - 1);
  if (opts.containers !== false) for (const s of lab.servers) await lab.addContainer(s, s.index, opts.containerMtu ?? 1450);
  return enc;
}

/** `remotes` VXLAN ports attached and up, every one riding the WireGuard interface. */
export async function waitForEncrypted(s: Server, remotes: number, timeoutMs = 20_000): Promise<number> {
  return waitFor(`${s.ns}: ${remotes} vxlan ports up over WireGuard`, async () => {
    const v = await vxlanLinks(s.ns);
    const ok = v.filter((l) => l.master === DEFAULT_BRIDGE && l.flags.includes('UP') && ((l.linkinfo?.info_data as Record<string, unknown> | undefined)?.local as string | undefined)?.startsWith('100.127.')).length;
    return ok === remotes || `${ok} of ${remotes}: ${s.log().slice(-600)}`;
  }, timeoutMs, 100);
}

/** A packet capture on the underlay bridge, stopped (and flushed) by `stop()`. */
export class UnderlayCapture {
  private readonly file: string;
  private proc: ReturnType<Lab['spawn']> | undefined;
  constructor(private readonly lab: Lab, tag: string) {
    this.file = join(lab.dir, `${tag}.pcap`);
  }

  get path(): string {
    return this.file;
  }

  async start(): Promise<void> {
    // -U: each packet written at once; -s 128: headers are all that is counted.
    this.proc = this.lab.spawn(this.lab.underlay, ['tcpdump', '-i', 'ulbr', '-n', '-U', '-s', '128', '-w', this.file]);
    await waitFor('tcpdump listening', async () => {
      try {
        return readFileSync(this.file).length >= 24 || 'no pcap header yet';
      } catch {
        return 'no capture file yet';
      }
    }, 10_000, 50);
  }

  async stop(): Promise<void> {
    await this.lab.kill(this.proc, 'SIGINT');
    this.proc = undefined;
  }

  /** Packets in the capture that match a tcpdump filter. */
  async count(filter: string): Promise<number> {
    const out = await run('tcpdump', ['-r', this.file, '-n', filter]).catch((e: Error) => {
      // An empty match prints nothing; a capture file with no packets at all reads fine too.
      throw new Error(`tcpdump -r ${this.file} '${filter}': ${e.message}`);
    });
    return out.split('\n').filter((l) => l.trim() !== '').length;
  }
}

/** The status of a server, also the text of its log: neither may hold its private key. */
export function privateKeyOf(s: Server): string {
  return readFileSync(join(s.stateDir, 'wireguard.key'), 'utf8').trim();
}

/** wg's dump of a server's interface (public keys, endpoints, handshakes, counters). */
export async function wgDump(s: Server, device: string): Promise<string> {
  return ns(s.ns, 'wg', 'show', device, 'dump');
}

export async function encryptionStatus(s: Server): Promise<Record<string, any>> {
  return (await statusJson(s)).encryption as Record<string, any>;
}

/** One UDP packet of a capture: when, from where to where. */
export interface WirePacket {
  t: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

/** The IPv4 UDP packets of a capture that match `filter`, with their times (tcpdump -tt). */
export async function packets(capture: UnderlayCapture, filter: string): Promise<WirePacket[]> {
  const out = await run('tcpdump', ['-r', capture.path, '-n', '-tt', filter]);
  const res: WirePacket[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+\.\d+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+):/.exec(line);
    if (m) res.push({ t: Number(m[1]), src: m[2]!, sport: Number(m[3]), dst: m[4]!, dport: Number(m[5]) });
  }
  return res;
}
