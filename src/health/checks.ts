import { createSocket } from 'node:dgram';
import type { Runner } from '../kernel/runner.js';
import { VXLAN_OVERHEAD } from '../model/types.js';

/**
 * The checks that tell the causes apart when the tunnel probe gets no answer. First a knock:
 * one probe from a connected UDP socket, to which the peer's kernel answers "port
 * unreachable" through the tunnel when its daemon is down (no process started). Otherwise
 * `ping` through the project's one command runner: ICMP echo to the peer's probe address
 * through the tunnel, and on the underlay ICMP to the peer host and a DF ping of mesh MTU + 50
 * (IPv4) / + 70 (IPv6), the size a full frame becomes once encapsulated; when that fails, the
 * largest size that passes.
 */

export interface UnderlayFinding {
  at: string;
  /** The peer host answers ICMP on the underlay. */
  hostAnswers: boolean;
  /** The underlay packet size a full mesh frame needs: mesh MTU + 50/70. */
  dfSize: number;
  dfPasses: boolean;
  /** When `dfPasses` is false: the largest DF size found to pass (null: none tried passed). */
  largestPassing: number | null;
}


const IP_ICMP_HEADERS = { 4: 28, 6: 48 } as const;

async function pingOk(runner: Runner, args: string[]): Promise<boolean> {
  try {
    await runner.run('ping', ['-n', '-q', ...args], { timeoutMs: 5000 });
    return true;
  } catch {
    return false;
  }
}

export type KnockResult = 'refused' | 'answered' | 'silent';

/**
 * Send `datagram` to the peer's probe port from a connected socket on our probe address:
 * `refused` when an ICMP port unreachable comes back (the peer's kernel is there, through the
 * tunnel, its daemon is not), `answered` when its daemon answers after all, `silent` after
 * `timeoutMs` (the tunnel or the ICMP is lost: ping decides).
 */
export function knockProbePort(from: { family: 4 | 6; address: string; bridge: string }, to: string, port: number, datagram: Buffer, timeoutMs = 1000): Promise<KnockResult> {
  const scope = (a: string) => (from.family === 6 ? `${a}%${from.bridge}` : a);
  const sock = createSocket({ type: from.family === 6 ? 'udp6' : 'udp4' });
  return new Promise<KnockResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (r: KnockResult) => {
      if (timer) clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      try {
        sock.close();
      } catch {
        // already closed
      }
      resolve(r);
    };
    sock.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'silent'));
    sock.on('message', () => done('answered'));
    sock.bind({ address: scope(from.address), port: 0 }, () => {
      sock.connect(port, scope(to), () => {
        sock.send(datagram);
        timer = setTimeout(() => done('silent'), timeoutMs);
      });
    });
  });
}

/** ICMP echo to the peer's probe address across the tunnel (`addr%bridge` for link-local). */
export function pingThroughTunnel(runner: Runner, probeAddress: string, bridge: string): Promise<boolean> {
  const v6 = probeAddress.includes(':');
  return pingOk(runner, [v6 ? '-6' : '-4', '-c', '2', '-i', '0.2', '-W', '1', v6 ? `${probeAddress}%${bridge}` : probeAddress]);
}

function dfPing(runner: Runner, remote: string, family: 4 | 6, size: number): Promise<boolean> {
  return pingOk(runner, [family === 6 ? '-6' : '-4', '-c', '1', '-W', '1', '-M', 'do', '-s', String(size - IP_ICMP_HEADERS[family]), remote]);
}

/** Bounded: one plain ping, one DF ping, and at most 10 more for the bisection. */
export async function checkUnderlay(runner: Runner, remote: string, family: 4 | 6, meshMtu: number): Promise<UnderlayFinding> {
  const dfSize = meshMtu + VXLAN_OVERHEAD[family];
  const hostAnswers = await pingOk(runner, [family === 6 ? '-6' : '-4', '-c', '2', '-i', '0.2', '-W', '1', remote]);
  const finding: UnderlayFinding = { at: new Date().toISOString(), hostAnswers, dfSize, dfPasses: false, largestPassing: null };
  if (!hostAnswers) return finding;
  finding.dfPasses = await dfPing(runner, remote, family, dfSize);
  if (finding.dfPasses) return finding;
  // IPv6 links carry at least 1280; IPv4 paths at least 576.
  let lo = family === 6 ? 1280 : 576;
  let hi = dfSize - 1;
  if (!(await dfPing(runner, remote, family, lo))) return finding;
  for (let step = 0; step < 10 && lo < hi; step++) {
    const mid = Math.ceil((lo + hi) / 2);
    if (await dfPing(runner, remote, family, mid)) lo = mid;
    else hi = mid - 1;
  }
  finding.largestPassing = lo;
  return finding;
}

/** One line for status: what the underlay check found. */
export function describeUnderlay(f: UnderlayFinding, remote: string): string {
  if (!f.hostAnswers) return `the host ${remote} does not answer ICMP on the underlay either`;
  if (f.dfPasses) return `the host ${remote} answers on the underlay, and a DF ping of ${f.dfSize} bytes crosses it`;
  if (f.largestPassing === null) return `the host ${remote} answers on the underlay, but no DF ping of ${f.dfSize} bytes or less passes`;
  return `the host ${remote} answers on the underlay, but a DF ping of ${f.dfSize} bytes does not cross it; the largest that does is ${f.largestPassing} bytes`;
}
