import { describeUnderlay, type UnderlayFinding } from './checks.js';
import { diffAgreement, type OurSide } from './agreement.js';
import type { WindowSummary } from './window.js';
import { WIRE_PROTOCOL, type ProbeInfo } from './wire.js';

/** How a link looks end to end: what `status` shows per link (JSON field `health`). */
export interface LinkHealth {
  /** ok; warning (reported, not a failure); failure (the server is degraded); unknown (no verdict yet). */
  state: 'ok' | 'warning' | 'failure' | 'unknown';
  /** The peer's daemon answers probes through the tunnel. */
  reachable: boolean | null;
  /** Since when `reachable` has held its value. */
  since: string | null;
  probeAddress: string;
  rttMs: number | null;
  rttAvgMs: number | null;
  /** Small probes lost over the last minute, 0..1. */
  lossRatio: number | null;
  /** Whether a datagram filling the mesh MTU crosses (null: not known yet). */
  fullSizePass: boolean | null;
  /** Same VNI, MTU, port and config digests on both ends (null: no answer yet). */
  agreement: boolean | null;
  differences: string[];
  /** ICMP to the peer's probe address through the tunnel, checked when probes go unanswered. */
  tunnelIcmp: boolean | null;
  underlay: UnderlayFinding | null;
  peerVersion: string | null;
  /** The probe protocol the peer's last answer spoke (1: the first release's). */
  peerProtocol: number | null;
  /**
   * The last answer carried a MAC that verified with the mesh key. False: without a mesh key
   * anything on the bridge (a container) can forge this link's answers.
   */
  authenticated: boolean;
  /** Worth knowing, not a fault (another probe protocol on the peer during an upgrade). */
  notes: string[];
  lastAnswerAt: string | null;
  /** One line saying what is wrong, when something is. */
  problem: string | null;
}

export interface LinkHealthInput {
  peer: string;
  remote: string;
  probeAddress: string;
  summary: WindowSummary;
  since: number | null;
  ours: OurSide;
  lastInfo: ProbeInfo | undefined;
  authenticated: boolean;
  tunnelIcmp: boolean | null;
  underlay: UnderlayFinding | null;
  /** Set when the peer's own probes show the mesh keys differ (recently). */
  authMismatch: string | null;
}

/** Small probes lost in a row before a peer counts as not answering. */
export const LOST_IN_ROW = 2;

/** Whether the link needs the tunnel and underlay checks now. */
export function needsChecks(s: WindowSummary): boolean {
  return s.smallLostInRow >= LOST_IN_ROW || s.fullLostInRow >= LOST_IN_ROW;
}

/** Whether the peer answers (null: no verdict yet, as before the first small probe is answered). */
export function isAnswering(s: WindowSummary): boolean | null {
  if (s.smallDone === 0) return null;
  if (s.smallLostInRow >= LOST_IN_ROW || s.lastAnswerAt === null) return false;
  // Answered at full size only, so far (the first small probe went out before the peer's port was
  // up): the small probes' verdict, and the RTT they carry, are still to come.
  return s.rttLastMs === null ? null : true;
}

/** Pure: the verdict on one link from its probe window and the checks' findings. */
export function computeLinkHealth(i: LinkHealthInput): LinkHealth {
  const s = i.summary;
  const answering = isAnswering(s);
  // Full-size probes lost while the small ones since are still undecided say nothing yet: the
  // whole link may have gone (a port change, a drop rule), which the small ones show next.
  const fullLost = s.fullLostInRow >= LOST_IN_ROW;
  const fullSizePass = fullLost ? (s.smallAnsweredSinceFullLoss ? false : null) : s.fullPassed === null ? null : s.fullPassed || s.fullLostInRow < LOST_IN_ROW;
  const differences = answering && i.lastInfo ? diffAgreement(i.ours, i.lastInfo) : [];
  const h: LinkHealth = {
    state: 'unknown',
    reachable: answering,
    since: i.since === null ? null : new Date(i.since).toISOString(),
    probeAddress: i.probeAddress,
    rttMs: round(s.rttLastMs),
    rttAvgMs: round(s.rttAvgMs),
    lossRatio: s.lossRatio === null ? null : Math.round(s.lossRatio * 1000) / 1000,
    fullSizePass,
    agreement: answering && i.lastInfo ? differences.length === 0 : null,
    differences,
    tunnelIcmp: answering ? null : i.tunnelIcmp,
    underlay: i.underlay,
    peerVersion: i.lastInfo?.version ?? null,
    peerProtocol: i.lastInfo ? (i.lastInfo.protocol ?? 1) : null,
    authenticated: i.authenticated,
    notes: [],
    lastAnswerAt: s.lastAnswerAt === null ? null : new Date(s.lastAnswerAt).toISOString(),
    problem: null,
  };
  if (answering === null) return h;
  const theirs = h.peerProtocol;
  if (answering && theirs !== null && theirs !== WIRE_PROTOCOL) {
    h.notes.push(`${i.peer} speaks probe protocol ${theirs}, we speak ${WIRE_PROTOCOL}: only the settings both know are compared`);
  }
  const underlayText = i.underlay ? `; ${describeUnderlay(i.underlay, i.remote)}` : '';
  if (answering) {
    const problems: string[] = [];
    if (differences.length) problems.push(`config differs: ${differences.join('; ')}`);
    if (fullSizePass === false) problems.push(`full-size frames (MTU ${i.ours.mtu}) do not cross, small ones do${underlayText}`);
    if (problems.length === 0 && fullLost) {
      h.state = 'warning';
      h.problem = 'full-size probes lost; a small probe tells next whether frames are too large or the link is down';
      return h;
    }
    h.state = problems.length ? 'failure' : 'ok';
    h.problem = problems.length ? problems.join('; ') : null;
    return h;
  }
  if (i.authMismatch) {
    h.state = 'failure';
    h.problem = `not answering our probes: ${i.authMismatch}`;
    return h;
  }
  if (i.tunnelIcmp === true) {
    h.state = 'warning';
    h.problem = `daemon not answering: ${i.peer}'s bridge answers ICMP through the tunnel, so the data plane carries traffic`;
    return h;
  }
  if (i.tunnelIcmp === null) {
    h.state = 'warning';
    h.problem = 'not answering probes; checking the tunnel and the underlay';
    return h;
  }
  h.state = 'failure';
  h.problem = `unreachable through the tunnel${underlayText}${portHint(i)}`;
  return h;
}

/** Why a host that answers on the underlay may not answer through the tunnel. */
function portHint(i: LinkHealthInput): string {
  const u = i.underlay;
  if (!u?.hostAnswers || !u.dfPasses) return '';
  if (i.lastInfo && i.lastInfo.port !== i.ours.port) return `; likely cause: ${i.peer} last reported VXLAN port ${i.lastInfo.port}, we use ${i.ours.port}`;
  return `; likely cause: VXLAN (UDP ${i.ours.port}) is dropped on the way, or ${i.peer} uses another VXLAN port or VNI`;
}

function round(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1000;
}
