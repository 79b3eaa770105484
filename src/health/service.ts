import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { Runner } from '../kernel/runner.js';
import { readIpv6State } from '../kernel/ipv6.js';
import { idFromProbeAddress, probeAddress } from '../model/probe-address.js';
import { chooseProbeAddress } from '../plan/probe-address.js';
import type { ConfigFacts } from './agreement.js';
import { checkUnderlay, knockProbePort, pingThroughTunnel, type UnderlayFinding } from './checks.js';
import { computeLinkHealth, isAnswering, LOST_IN_ROW, needsChecks, type LinkHealth } from './link-health.js';
import type { Ipv6State } from '../model/state.js';
import { AnswerLimiter } from './rate-limit.js';
import { VERSION } from '../version.js';
import { LinkWindow, type ProbeSize, type WindowSummary } from './window.js';
import { encodeProbe, parseProbe, randomSeq, WIRE_PROTOCOL, type ProbeInfo } from './wire.js';
import { readConfigFile } from '../config/read.js';

/** What the daemon tells the prober after each reconcile: who we are and which links to probe. */
export interface ProbeSetup {
  bridge: string;
  selfId: number;
  selfName: string;
  port: number;
  intervalMs: number;
  keyFile: string | undefined;
  meshMtu: number;
  facts: ConfigFacts;
  links: ProbeLink[];
}

export interface ProbeLink {
  peer: string;
  peerId: number;
  vni: number;
  /** The peer's underlay address, for the underlay check. */
  remote: string;
  remoteFamily: 4 | 6;
}

export const IGNORE_REASONS = ['malformed', 'bad_key', 'not_a_peer', 'unexpected', 'rate_limited'] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

/** The prober's part of `status` (JSON field `probe`). */
export interface ProbeReport {
  enabled: boolean;
  family: 6 | 4 | null;
  address: string | null;
  port: number | null;
  intervalSeconds: number | null;
  /** A mesh key is in use: probes and answers carry an HMAC, unauthenticated ones are ignored. */
  keyed: boolean;
  /**
   * Whether verdicts can be trusted: without a mesh key anything on the bridge (a container)
   * can forge answers, so every link's health is only as good as the bridge's neighbours.
   */
  authenticated: boolean;
  /** Why the probe cannot run (or runs only in part), if it cannot. */
  problem: string | null;
  sent: number;
  answered: number;
  ignored: Record<IgnoreReason, number>;
}

interface LinkState {
  link: ProbeLink;
  window: LinkWindow;
  lastInfo: ProbeInfo | undefined;
  authenticated: boolean;
  reachable: boolean | null;
  since: number | null;
  tunnelIcmp: boolean | null;
  underlay: UnderlayFinding | null;
  lastCheckAt: number;
  /** Checks run in a row while the link stays broken: each waits twice as long as the one before. */
  checksInRow: number;
  checking: boolean;
  /** When the peer's probes last failed our key check, or came signed while we have no key. */
  badKeyAt: number;
  signedAt: number;
}

const IP_UDP_HEADERS = { 4: 28, 6: 48 } as const;
/** At most this many links run their tunnel/underlay checks at once (each is a few pings). */
const MAX_CHECKS_AT_ONCE = 4;
const MIN_KEY_BYTES = 16;
/** A key file is a line of text: anything larger is not one (and /dev/zero must not fill memory). */
const MAX_KEY_BYTES = 4096;
const KEY_READ_TIMEOUT_MS = 2000;
const MAX_CHECK_EVERY_MS = 300_000;
/**
 * Every second round sends the full-size probe instead of the small one; a lost one is
 * confirmed at once (see `send`), so frames too large to cross show within two rounds.
 */
export const FULL_EVERY = 2;
const SEND_BATCHES = 4;
const ROUND_FAILED = 'probe round failed: ';
/** After a reconcile that changed the kernel: time for the new ports to come up. */
const PROBE_SOON_MS = 300;

function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Probes every remote peer through the overlay and answers their probes: one UDP socket
 * bound to this bridge's probe address only. It reports; it never changes the data plane.
 */
export class ProbeService {
  private setup: ProbeSetup | undefined;
  private socket: Socket | undefined;
  private bound: { family: 6 | 4; address: string; port: number; bridge: string; ifindex: number } | undefined;
  private binding = false;
  private problem: string | null = null;
  private key: Buffer | undefined;
  private keyError: string | null = null;
  private ipv6: Ipv6State | undefined;
  /** The key and IPv6 state are read off the reconcile path: a stalled file must not stop repair. */
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private readonly states = new Map<number, LinkState>();
  private timer: NodeJS.Timeout | undefined;
  /** An extra small round soon after a reconcile that changed the kernel. */
  private soon: NodeJS.Timeout | undefined;
  private sent = 0;
  private rounds = 0;
  private answered = 0;
  private readonly ignored = Object.fromEntries(IGNORE_REASONS.map((r) => [r, 0])) as Record<IgnoreReason, number>;
  private limiter = new AnswerLimiter(wallNow());
  private checksRunning = 0;
  private closed = false;

  constructor(private readonly log: Logger, private readonly runner: Runner) {}

  /**
   * Called after every reconcile; undefined stops probing (mesh stopped, probe disabled, no
   * config); 'keep' (the reconcile could not tell what the links are, e.g. observing the kernel
   * failed) keeps probing what it probed, health history and all. `changed`: the reconcile
   * changed the kernel (a repair, a new peer): probe once soon, so the links' health follows
   * the repair instead of waiting for the next round. Awaits no I/O: it runs inside the
   * daemon's reconcile queue, where a stalled key file must not stop repair.
   */
  async configure(next: ProbeSetup | undefined | 'keep', changed = false): Promise<void> {
    if (this.closed) return;
    if (next === 'keep') return;
    const setup = next;
    const before = this.setup;
    this.setup = setup;
    if (!setup) {
      this.stopTimer();
      this.closeSocket();
      this.states.clear();
      this.problem = null;
      return;
    }
    // Read after every reconcile (so at least every resync), not every round; in the background.
    this.refresh();
    // An answer from before our own config changed says nothing about agreement with the new
    // one: forget it (agreement unknown) until the next answer, which `changed` brings soon.
    const oursChanged = before !== undefined && (before.facts.peersDigest !== setup.facts.peersDigest || before.facts.meshDigest !== setup.facts.meshDigest || JSON.stringify(before.facts.agree) !== JSON.stringify(setup.facts.agree));
    if (oursChanged) {
      for (const s of this.states.values()) s.lastInfo = undefined;
      changed = true;
    }
    const wanted = new Set(setup.links.map((l) => l.peerId));
    for (const id of this.states.keys()) if (!wanted.has(id)) this.states.delete(id);
    for (const l of setup.links) {
      const s = this.states.get(l.peerId);
      if (s) s.link = l;
      else this.states.set(l.peerId, { link: l, window: new LinkWindow(), lastInfo: undefined, authenticated: false, reachable: null, since: null, tunnelIcmp: null, underlay: null, lastCheckAt: 0, checksInRow: 0, checking: false, badKeyAt: 0, signedAt: 0 });
    }
    if (!this.timer || before?.intervalMs !== setup.intervalMs) {
      this.stopTimer();
      this.schedule(Math.min(500, setup.intervalMs));
    } else if (changed && !this.soon) {
      this.soon = setTimeout(() => {
        this.soon = undefined;
        void this.roundSafely('small');
      }, PROBE_SOON_MS);
      this.soon.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopTimer();
    this.closeSocket();
  }

  /** Read the key file and the IPv6 state again, one read at a time; never throws. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const go = async (): Promise<void> => {
      do {
        this.refreshAgain = false;
        const setup = this.setup;
        if (!setup) return;
        await this.loadKey(setup.keyFile);
        this.ipv6 = await readIpv6State([setup.bridge]).catch(() => this.ipv6);
      } while (this.refreshAgain && !this.closed);
    };
    this.refreshing = go().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * Read like a config file (regular files only, size cap, time bound): a FIFO, a device or a
   * stalled mount at the path gives a problem in status, never a hung or exhausted daemon.
   */
  private async loadKey(file: string | undefined): Promise<void> {
    if (!file) {
      this.key = undefined;
      this.keyError = null;
      return;
    }
    const r = await readConfigFile(file, { maxBytes: MAX_KEY_BYTES, timeoutMs: KEY_READ_TIMEOUT_MS });
    const text = r.ok ? r.text.trim() : '';
    const error = !r.ok ? r.reason : Buffer.byteLength(text) < MIN_KEY_BYTES ? `the key must be at least ${MIN_KEY_BYTES} bytes` : null;
    if (error) {
      // Never fall back to unauthenticated probes when a key was asked for.
      this.key = undefined;
      this.keyError = `cannot use the probe key file ${file}: ${error}`;
      return;
    }
    this.key = Buffer.from(text, 'utf8');
    this.keyError = null;
  }

  private schedule(delayMs: number): void {
    if (this.closed || !this.setup) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.roundSafely().finally(() => {
        const interval = this.setup?.intervalMs;
        // +-20% jitter: daemons started together do not probe in lockstep.
        if (interval !== undefined && !this.timer) this.schedule(interval * (0.8 + 0.4 * Math.random()));
      });
    }, delayMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
  }

  private timeoutMs(): number {
    return Math.min(2000, Math.max(500, (this.setup?.intervalMs ?? 5000) * 0.8));
  }

  /**
   * A round that fails (out of file descriptors: even reading the interfaces throws) is a
   * problem in status and the next round tries again; it must never end the daemon.
   */
  private roundSafely(only?: ProbeSize): Promise<void> {
    return this.round(only).then(
      () => {
        if (this.problem?.startsWith(ROUND_FAILED)) this.problem = null;
      },
      (err: unknown) => {
        this.problem = `${ROUND_FAILED}${err instanceof Error ? err.message : String(err)}`;
      },
    );
  }

  private async round(only?: ProbeSize): Promise<void> {
    const setup = this.setup;
    if (!setup) return;
    // Re-read each round: a key rotated on disk takes effect without a reload.
    await this.refresh();
    if (this.setup !== setup) return;
    if (this.keyError) {
      this.problem = this.keyError;
      this.closeSocket();
      return;
    }
    if (!(await this.ensureSocket(setup))) return;
    const b = this.bound!;
    const now = wallNow();
    // One probe per peer a round, sizes in rotation (small, small, full): half the datagrams
    // of sending both every round, which is most of the probe's cost at 64 peers.
    const size: ProbeSize = only ?? (this.rounds++ % FULL_EVERY === FULL_EVERY - 1 ? 'full' : 'small');
    const bytes = size === 'full' ? setup.meshMtu - IP_UDP_HEADERS[b.family] : 0;
    // Spread over the first part of the round in a few batches: no burst of 64 answers queued
    // behind each other (which would read as RTT), and a smoother load.
    const targets = [...this.states.values()];
    const batches = Math.min(SEND_BATCHES, targets.length);
    const spreadMs = Math.min(1000, setup.intervalMs / 2);
    for (let k = 0; k < batches; k++) {
      const batch = targets.filter((_, i) => i % batches === k);
      const go = () => {
        if (!this.bound || !this.setup) return;
        const at = wallNow();
        for (const s of batch) {
          const to = probeAddress(s.link.peerId, this.bound.family);
          if (to) this.send(s, size, bytes, to, at);
        }
      };
      if (k === 0) go();
      else setTimeout(go, (k * spreadMs) / batches).unref();
    }
    this.refreshReachability(now);
  }

  private send(s: LinkState, size: ProbeSize, bytes: number, to: string, now: number): void {
    const setup = this.setup!;
    const seq = randomSeq();
    const buf = encodeProbe({ kind: 'request', seq, sender: setup.selfId, target: s.link.peerId, size: bytes }, this.key, WIRE_PROTOCOL);
    s.window.recordSent(seq, size, now);
    this.sent++;
    // A send error (no route yet, message too long) is a lost probe, which is what it is.
    this.socket?.send(buf, this.bound!.port, scoped(to, this.bound!), () => undefined);
    if (size === 'full') {
      // A lost full-size probe is confirmed by another at once, not two rounds later: frames
      // too large for the path show within two intervals. Bounded: stops at LOST_IN_ROW.
      const timeoutMs = this.timeoutMs();
      const t = setTimeout(() => {
        const at = wallNow();
        if (this.setup !== setup || !this.bound || this.states.get(s.link.peerId) !== s || s.window.isOutstanding(seq, at, timeoutMs)) return;
        const w = s.window.summarize(at, timeoutMs);
        // With a small one beside it: the verdict needs to know whether small frames still cross.
        if (w.fullLostInRow > 0 && w.fullLostInRow < LOST_IN_ROW) {
          this.send(s, 'full', bytes, to, at);
          this.send(s, 'small', 0, to, at);
        }
        this.refreshReachability(at);
      }, timeoutMs + 50);
      t.unref();
    }
  }

  /** Bind to the probe address on the bridge; retried each round until the address is there. */
  private async ensureSocket(setup: ProbeSetup): Promise<boolean> {
    if (this.binding || !this.ipv6) return false;
    const choice = chooseProbeAddress({ bridge: setup.bridge, id: setup.selfId }, this.ipv6);
    if (!choice.ok) {
      this.problem = choice.reason;
      this.closeSocket();
      return false;
    }
    // Keyed on the bridge's ifindex too: a bridge deleted and made again under the same name is
    // another interface, and a socket bound to the old one's address hears nothing.
    const ifindex = await bridgeIfindex(setup.bridge);
    if (ifindex === undefined) {
      this.problem = `the bridge ${setup.bridge} is not there`;
      this.closeSocket();
      return false;
    }
    const want = { family: choice.family, address: choice.address, port: setup.port, bridge: setup.bridge, ifindex };
    if (this.socket && this.bound && JSON.stringify(this.bound) === JSON.stringify(want)) return true;
    this.closeSocket();
    this.binding = true;
    const sock = createSocket({ type: want.family === 6 ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address: scoped(want.address, want), port: want.port, exclusive: true }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      sock.close();
      const code = (err as NodeJS.ErrnoException).code;
      this.problem = `cannot listen on [${want.address}]:${want.port} on ${want.bridge}: ${code === 'EADDRNOTAVAIL' ? 'the probe address is not on the bridge yet' : (code ?? String(err))}`;
      return false;
    } finally {
      this.binding = false;
    }
    sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo));
    sock.on('error', (err) => this.log.warn({ err: err.message }, 'probe socket error'));
    this.socket = sock;
    this.bound = want;
    this.problem = null;
    this.log.info({ address: want.address, port: want.port, bridge: want.bridge, keyed: this.key !== undefined }, 'probing links through the overlay');
    return true;
  }

  private closeSocket(): void {
    this.socket?.close();
    this.socket = undefined;
    this.bound = undefined;
  }

  private onMessage(buf: Buffer, rinfo: RemoteInfo): void {
    const setup = this.setup;
    if (!setup || !this.bound) return;
    const r = parseProbe(buf, this.key);
    if (!r.ok) {
      this.ignored[r.reason]++;
      // Remembered per peer so its link can say "the keys differ" rather than "not answering".
      const from = this.states.get(idFromProbeAddress(rinfo.address) ?? -1);
      if (from && r.reason === 'bad_key') from.badKeyAt = wallNow();
      return;
    }
    const m = r.message;
    const state = this.states.get(m.sender);
    // The source must be the sender's own probe address, and we must be the target.
    if (!state || m.target !== setup.selfId || idFromProbeAddress(rinfo.address) !== m.sender) {
      this.ignored.not_a_peer++;
      return;
    }
    const now = wallNow();
    if (m.signed && !this.key) state.signedAt = now;
    if (m.kind === 'request') {
      if (!this.limiter.allow(rinfo.address, now)) {
        this.ignored.rate_limited++;
        return;
      }
      const info: ProbeInfo = {
        node: setup.selfName,
        version: VERSION,
        vni: state.link.vni,
        mtu: setup.facts.mtu,
        port: setup.facts.port,
        peers: setup.facts.peers,
        peersDigest: setup.facts.peersDigest,
        meshDigest: setup.facts.meshDigest,
        // A protocol 1 requester refuses fields it does not know: it gets its own shape.
        ...(m.protocol >= 2 ? { protocol: WIRE_PROTOCOL, agree: setup.facts.agree } : {}),
      };
      // As large as the request (never larger: no amplification), so a full-size answer
      // proves the way back too; capped at what our own MTU carries.
      const size = Math.min(buf.length, setup.meshMtu - IP_UDP_HEADERS[this.bound.family]);
      const answer = encodeProbe({ kind: 'response', seq: m.seq, sender: setup.selfId, target: m.sender, info, size }, this.key);
      this.socket?.send(answer, rinfo.port, rinfo.address, () => undefined);
      return;
    }
    if (state.window.recordAnswer(m.seq, now, this.timeoutMs()) === undefined) {
      this.ignored.unexpected++;
      return;
    }
    this.answered++;
    state.lastInfo = m.info;
    state.authenticated = m.authenticated;
  }

  /** Track since when each link answers (or not), and start the checks links need. */
  private refreshReachability(now: number): void {
    for (const s of this.states.values()) {
      const summary = s.window.summarize(now, this.timeoutMs());
      const reachable = isAnswering(summary);
      if (reachable !== s.reachable) {
        s.reachable = reachable;
        s.since = now;
        if (reachable !== null) this.log.info({ peer: s.link.peer, reachable }, reachable ? 'link answers probes through the tunnel' : 'link stopped answering probes');
      }
      if (!needsChecks(summary)) {
        s.tunnelIcmp = null;
        s.underlay = null;
        s.checksInRow = 0;
      } else {
        this.maybeCheck(s, now, summary);
      }
    }
  }

  /** Unanswered probes: ICMP through the tunnel tells "daemon down" from "tunnel broken"; the underlay check says why. */
  private maybeCheck(s: LinkState, now: number, summary: WindowSummary): void {
    const setup = this.setup!;
    // Backed off while the link stays broken (15 s, 30 s, ... 5 min at the default interval):
    // a fleet of dead peers must not turn into a steady stream of pings.
    const checkEveryMs = Math.min(MAX_CHECK_EVERY_MS, Math.max(5000, 3 * setup.intervalMs) * 2 ** Math.max(0, s.checksInRow - 1));
    if (!needsChecks(summary) || s.checking || now - s.lastCheckAt < checkEveryMs || this.checksRunning >= MAX_CHECKS_AT_ONCE || !this.bound) return;
    s.checking = true;
    s.lastCheckAt = now;
    s.checksInRow++;
    this.checksRunning++;
    const bound = this.bound;
    const run = async () => {
      if (summary.smallLostInRow > 0) {
        const addr = probeAddress(s.link.peerId, bound.family);
        if (!addr) s.tunnelIcmp = false;
        else {
          // The knock costs no process: a fleet of stopped daemons is told apart without a ping each.
          const knock = encodeProbe({ kind: 'request', seq: randomSeq(), sender: setup.selfId, target: s.link.peerId }, this.key);
          const r = await knockProbePort(bound, addr, bound.port, knock);
          s.tunnelIcmp = r !== 'silent' || (await pingThroughTunnel(this.runner, addr, bound.bridge));
        }
      }
      // The underlay check explains a tunnel that carries nothing, or only small frames; when
      // the peer's kernel answers through the tunnel (its daemon is down) it has nothing to add.
      if (summary.smallLostInRow === 0 || s.tunnelIcmp === false) {
        s.underlay = await checkUnderlay(this.runner, s.link.remote, s.link.remoteFamily, setup.meshMtu);
      } else {
        s.underlay = null;
      }
    };
    void run()
      .catch((err: unknown) => this.log.warn({ peer: s.link.peer, err: String(err) }, 'link check failed'))
      .finally(() => {
        s.checking = false;
        this.checksRunning--;
        // Links waiting for a free slot go next, not a round later.
        if (this.setup && this.bound) for (const other of this.states.values()) this.maybeCheck(other, wallNow(), other.window.summarize(wallNow(), this.timeoutMs()));
      });
  }

  private health(s: LinkState, now: number): LinkHealth {
    const setup = this.setup!;
    return computeLinkHealth({
      peer: s.link.peer,
      remote: s.link.remote,
      probeAddress: probeAddress(s.link.peerId, this.bound?.family ?? 6) ?? '',
      summary: s.window.summarize(now, this.timeoutMs()),
      since: s.since,
      ours: { ...setup.facts, peerName: s.link.peer, vni: s.link.vni },
      lastInfo: s.lastInfo,
      authenticated: s.authenticated,
      tunnelIcmp: s.tunnelIcmp,
      underlay: s.underlay,
      authMismatch: this.authMismatch(s, now),
    });
  }

  private authMismatch(s: LinkState, now: number): string | null {
    const recent = (t: number) => t > 0 && now - t < 3 * (this.setup?.intervalMs ?? 5000) + 1000;
    if (recent(s.badKeyAt)) return `${s.link.peer}'s probes fail our key check: its mesh key (probe key file) differs from ours, or it has none`;
    if (recent(s.signedAt)) return `${s.link.peer} signs its probes with a mesh key, we have none (mesh.probe.key_file)`;
    return null;
  }

  /** Per peer name: the link's health now. Empty when probing is off. */
  linkHealth(): Map<string, LinkHealth> {
    const now = wallNow();
    const out = new Map<string, LinkHealth>();
    if (!this.setup) return out;
    this.refreshReachability(now);
    for (const s of this.states.values()) out.set(s.link.peer, this.health(s, now));
    return out;
  }

  report(): ProbeReport {
    const setup = this.setup;
    return {
      enabled: setup !== undefined,
      family: this.bound?.family ?? null,
      address: this.bound?.address ?? null,
      port: setup?.port ?? null,
      intervalSeconds: setup ? setup.intervalMs / 1000 : null,
      keyed: this.key !== undefined,
      authenticated: this.key !== undefined,
      problem: setup ? this.problem : null,
      sent: this.sent,
      answered: this.answered,
      ignored: { ...this.ignored },
    };
  }
}

/**
 * The bridge's ifindex from sysfs, or from its addresses (getifaddrs, netlink: an IPv6 address's
 * scope id is its interface's index) where /sys belongs to another network namespace, as in some
 * sandboxes and containers. 0: the bridge has addresses but no index could be read.
 */
async function bridgeIfindex(bridge: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(`/sys/class/net/${bridge}/ifindex`, 'utf8')).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // fall through to the addresses
  }
  const addrs = networkInterfaces()[bridge];
  if (!addrs) return undefined;
  return addrs.find((a) => a.family === 'IPv6' && (a.scopeid ?? 0) > 0)?.scopeid ?? 0;
}

/** Link-local addresses need the bridge as their scope. */
function scoped(address: string, b: { family: 6 | 4; bridge: string }): string {
  return b.family === 6 ? `${address}%${b.bridge}` : address;
}
