/**
 * What `vxmesh status` and the operation verbs print for a person: a short
 * header about the node, then one aligned row per link. `--json` prints the
 * raw report instead, for scripts.
 */
import type { LinkStatus, OperationResult, ReconcileReport, StatusReport } from '../daemon/status.js';
import { evpnLines } from './render-evpn.js';

const LABEL_WIDTH = 17;
const INDENT = ' '.repeat(LABEL_WIDTH);
/** Long change lists are cut; the full list is in `status --json` and the log. */
const MAX_CHANGES_SHOWN = 10;

export function renderStatusTable(s: StatusReport, now: Date = new Date()): string {
  const lines = [
    ...field('Node', `${s.node ?? '(not found in the config)'}${s.version ? ` (vxmesh ${s.version})` : ''}`),
    ...stateLines(s),
    ...configLines(s.config),
    ...field('Underlay', underlayText(s.underlay)),
    ...field('Bridge', bridgeText(s.bridge)),
    ...modeLines(s),
    ...evpnLines(s.evpn, field),
    ...field('Loop prevention', loopPreventionText(s.loopPrevention)),
    ...(s.encryption ? field('Encryption', encryptionText(s.encryption), encryptedLinkLines(s)) : []),
    ...field('Ingress filter', ingressText(s.ingressFilter)),
    ...field('Link probe', probeText(s.probe)),
    ...(s.warnings.length ? field('Warnings', s.warnings[0]!, s.warnings.slice(1)) : []),
    ...lastReconcileLines(s.lastReconcile, now),
    '',
    ...linkTable(s.links, s.mode),
  ];
  return lines.join('\n') + '\n';
}

export function renderOperation(r: OperationResult): string {
  const outcome = r.ok ? 'done' : 'FAILED';
  const changes = r.changes.length === 0 ? 'nothing changed' : `${count(r.changes.length, 'change')}:`;
  const lines = [`${r.operation} ${outcome}; the mesh is ${r.state}; ${changes}`];
  lines.push(...r.changes.map((c) => `  ${c}`));
  if (r.errors.length > 0) {
    lines.push(`${count(r.errors.length, 'error')}:`, ...r.errors.map((e) => `  ${e}`));
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- header

function field(label: string, value: string, more: string[] = []): string[] {
  return [`${`${label}:`.padEnd(LABEL_WIDTH)}${value}`, ...more.map((line) => `${INDENT}${line}`)];
}

function stateLines(s: StatusReport): string[] {
  return field('State', s.state, s.reasons.map((r) => `- ${r}`));
}

function configLines(c: StatusReport['config']): string[] {
  const files = c.files.length === 0 ? 'no files' : c.files.join(', ');
  const loaded = c.loadedAt === null ? 'never loaded' : `loaded ${c.loadedAt}`;
  const more = [
    ...(c.lastError ?? []).map((e) => `error: ${e}`),
    ...(c.lastError !== null ? ['(the last good config stays applied)'] : []),
    ...c.warnings.map((w) => `warning: ${w}`),
  ];
  return field('Config', `${c.dir}: ${files}; ${loaded}`, more);
}

function underlayText(u: StatusReport['underlay']): string {
  const where = `${u.device ?? '(no device)'} ${u.address ?? '(no address)'}`;
  return withProblem(u.mtu === null ? where : `${where}, MTU ${u.mtu}`, u.problem);
}

function bridgeText(b: StatusReport['bridge']): string {
  if (!b.present) return `${b.name} missing`;
  const owner = b.ownedByVxmesh ? 'created by vxmesh' : 'not created by vxmesh, never deleted by it';
  return `${b.name} ${b.up ? 'up' : 'down'}, MTU ${b.mtu ?? '?'} (${owner})`;
}

/** flood-list and multicast: the one device, its flood list or group. Nothing in per-peer mode. */
function modeLines(s: StatusReport): string[] {
  const d = s.device;
  if (!d) return [];
  const state = !d.present ? 'missing' : `${d.up ? 'up' : 'down'}${d.attached ? '' : ', not attached'}, MTU ${d.mtu ?? '?'}, learning ${d.learning ? 'on' : 'off'}`;
  const more: string[] = [];
  if (d.floodEntries) more.push(`flood list: ${d.floodEntries.present}/${d.floodEntries.expected} peers have their all-zero fdb entry`);
  if (d.foreignFloodEntries.length) more.push(`flood entries not written by vxmesh (left alone): ${d.foreignFloodEntries.join(', ')}`);
  const m = s.multicast;
  if (m) {
    const joined = m.joined === null ? 'joined: unknown' : m.joined ? 'joined' : 'NOT joined';
    more.push(`group ${m.group} on ${m.underlay}${m.ttl ? `, ttl ${m.ttl}` : ''}: ${joined}`, `note: ${m.warning}`);
  }
  return field('Mode', withProblem(`${s.mode}: ${d.name} vni ${d.vni}, ${state}, rx ${formatBytes(d.rxBytes)}, tx ${formatBytes(d.txBytes)}`, d.problem), more);
}

function loopPreventionText(l: StatusReport['loopPrevention']): string {
  if (l.mode === 'none') return withProblem('not needed (one device: a flood never re-enters another tunnel port)', l.problem);
  const what = l.mode === 'ebtables' ? 'rules' : 'isolated ports';
  // The backend matters only for ebtables mode; older daemons do not report it.
  const backend = l.mode !== 'ebtables' || l.backend === undefined ? '' : l.backend === null ? ' (no working ebtables)' : ` (backend ${l.backend.name}: ${l.backend.ebtables})`;
  return withProblem(`${l.mode}${backend}, ${l.present}/${l.expected} ${what} present${l.mode === 'ebtables' ? `, ${l.isolatedPorts} ports isolated` : ''}`, l.problem);
}

function encryptionText(e: StatusReport['encryption']): string {
  if (e.mode === 'none') return `none (VXLAN crosses the underlay in clear)`;
  const chain = e.mtuChain ? `, mtu ${e.mtuChain.underlay} -> ${e.mtuChain.wireguard} (WireGuard) -> ${e.mtuChain.fits} (VXLAN) ${e.mtuChain.ok ? '>=' : '<'} ${e.mtuChain.mesh}` : '';
  return withProblem(`WireGuard, ${e.implementation ?? 'no implementation'} on ${e.device}${e.present ? '' : ' (missing)'}, udp ${e.listenPort ?? '?'}, key ${e.publicKey ?? 'none'}${chain}; clear VXLAN dropped ${e.clearVxlanDropped.input} in, ${e.clearVxlanDropped.output} out`, e.problem);
}

/** One line per WireGuard peer under the encryption line: key, endpoint, handshake, bytes. */
function encryptedLinkLines(s: StatusReport): string[] {
  return s.links.flatMap((l) => {
    const w = l.wireguard;
    if (!w) return [];
    const hs = w.handshake === 'never' ? 'no handshake yet' : `handshake ${w.handshakeAgeSeconds} s ago${w.handshake === 'stale' ? ' (stale)' : ''}`;
    return [withProblem(`${l.peer}: ${w.publicKey} at ${w.endpoint}, ${hs}, rx ${w.rxBytes} B, tx ${w.txBytes} B`, w.problem)];
  });
}

function ingressText(f: StatusReport['ingressFilter']): string {
  if (!f.enabled) return withProblem('off (ingress_filter: false)', f.problem);
  return withProblem(`${f.present ? `on, VXLAN port open to ${f.peers} peer addresses` : 'missing'}, ${f.droppedPackets} packets from others dropped`, f.problem);
}

function probeText(p: StatusReport['probe']): string {
  if (!p.enabled) return 'off';
  const where = p.address === null ? 'not listening' : `[${p.address}]:${p.port}`;
  const ignored = Object.values(p.ignored).reduce((a, b) => a + b, 0);
  const detail = Object.entries(p.ignored).filter(([, n]) => n > 0).map(([r, n]) => `${r} ${n}`).join(', ');
  const text = `${where}, every ${p.intervalSeconds}s, ${p.keyed ? 'authenticated (mesh key)' : 'unauthenticated'}, ${ignored} ignored${detail ? ` (${detail})` : ''}`;
  return withProblem(text, p.problem);
}

function lastReconcileLines(r: ReconcileReport | null, now: Date): string[] {
  if (r === null) return field('Last reconcile', 'none yet');
  const summary =
    `${r.at} (${ago(r.at, now)}), took ${formatDuration(r.durationMs)}, trigger ${r.trigger}, ` +
    `${count(r.changes.length, 'change')}, ${count(r.errors.length, 'error')}`;
  const shown = r.changes.slice(0, MAX_CHANGES_SHOWN).map((c) => `+ ${c}`);
  if (r.changes.length > MAX_CHANGES_SHOWN) shown.push(`... and ${r.changes.length - MAX_CHANGES_SHOWN} more (see --json)`);
  return field('Last reconcile', summary, [...shown, ...r.errors.map((e) => `! ${e}`)]);
}

function withProblem(text: string, problem: string | null): string {
  return problem === null ? text : `${text}: PROBLEM: ${problem}`;
}

// ---------------------------------------------------------------- link table

const LINK_COLUMNS = ['PEER', 'REMOTE', 'VNI', 'DEVICE', 'STATE', 'MTU', 'RX', 'TX', 'MACS', 'TUNNEL', 'RTT', 'LOSS', 'FULL', 'AGREE'] as const;
const RIGHT_ALIGNED = new Set<string>(['VNI', 'MTU', 'RX', 'TX', 'MACS', 'RTT', 'LOSS', 'FULL', 'AGREE']);

const SINGLE_COLUMNS = ['PEER', 'REMOTE', 'VNI', 'DEVICE', 'STATE', 'FDB', 'MACS'] as const;

function linkTable(links: LinkStatus[], mode: StatusReport['mode'] = 'per-peer'): string[] {
  if (links.length === 0) return ['No links: this node has no remote peers (or is not in the config).'];
  if (mode !== 'per-peer') return alignColumns([[...SINGLE_COLUMNS], ...links.map(singleRow)]);
  const rows = links.map(linkRow);
  const table = alignColumns([[...LINK_COLUMNS], ...rows]);
  if (links.some((l) => l.legacy)) table.push('', '* VNI taken from a vxlansetup.sh peer\'s list (legacy link)');
  const problems = links.filter((l) => l.health?.problem);
  if (problems.length) table.push('', ...problems.map((l) => `${l.peer}: ${l.health!.state === 'warning' ? 'warning' : 'PROBLEM'}: ${l.health!.problem}`));
  return table;
}

/** A peer of a one-device mesh: no counters of its own; its flood entry and the MACs learned behind it. */
function singleRow(l: LinkStatus): string[] {
  return [l.peer, l.remote, String(l.vni), l.device, linkState(l), l.fdbEntry === null ? '-' : l.fdbEntry ? 'present' : 'missing', String(l.learnedMacs)];
}

function linkRow(l: LinkStatus): string[] {
  return [
    l.peer,
    l.remote,
    l.legacy ? `${l.vni}*` : String(l.vni),
    l.device,
    linkState(l),
    l.mtu === null ? '-' : String(l.mtu),
    formatBytes(l.rxBytes),
    formatBytes(l.txBytes),
    String(l.learnedMacs),
    ...healthCells(l),
  ];
}

/** TUNNEL, RTT, LOSS, FULL, AGREE: the probe's view of the link ("-" where not known). */
function healthCells(l: LinkStatus): string[] {
  const h = l.health;
  if (!h) return ['-', '-', '-', '-', '-'];
  const tunnel = h.reachable === null ? (h.state === 'warning' ? 'checking' : 'waiting') : h.reachable ? 'up' : h.tunnelIcmp ? 'no daemon' : h.tunnelIcmp === null ? 'no answer' : 'down';
  const yesNo = (b: boolean | null) => (b === null ? '-' : b ? 'yes' : 'NO');
  return [
    tunnel,
    h.rttMs === null ? '-' : `${h.rttMs < 10 ? h.rttMs.toFixed(2) : Math.round(h.rttMs)} ms`,
    h.lossRatio === null ? '-' : `${Math.round(h.lossRatio * 100)}%`,
    yesNo(h.fullSizePass),
    yesNo(h.agreement),
  ];
}

/**
 * up / down / missing, or the reason the link is not as desired. The daemon's
 * problem text may already say "missing" or "down"; it is not repeated.
 */
export function linkState(l: LinkStatus): string {
  const base = !l.present ? 'missing' : !l.up ? 'down' : !l.attached ? 'detached' : 'up';
  if (l.problem === null) return base;
  if (l.problem.startsWith(base) || base === 'up' || base === 'detached') return l.problem;
  return `${base}: ${l.problem}`;
}

function alignColumns(rows: string[][]): string[] {
  const header = rows[0] ?? [];
  const widths = header.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return RIGHT_ALIGNED.has(header[i] ?? '') ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd(),
  );
}

// ---------------------------------------------------------------- units

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 0 B, 512 B, 1.2 MiB, 34 GiB: one decimal below 10, none above. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 'B';
  for (const next of BYTE_UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${unit}`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function ago(iso: string, now: Date): string {
  const seconds = Math.round((now.getTime() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return 'unknown time';
  if (seconds < 0) return 'in the future: clocks differ';
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
