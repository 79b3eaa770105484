/**
 * What `vxmesh status` and the operation verbs print for a person: a short
 * header about the node, then one aligned row per link. `--json` prints the
 * raw report instead, for scripts.
 */
import type { LinkStatus, OperationResult, ReconcileReport, StatusReport } from '../daemon/status.js';

const LABEL_WIDTH = 17;
const INDENT = ' '.repeat(LABEL_WIDTH);
/** Long change lists are cut; the full list is in `status --json` and the log. */
const MAX_CHANGES_SHOWN = 10;

export function renderStatusTable(s: StatusReport, now: Date = new Date()): string {
  const lines = [
    ...field('Node', s.node ?? '(not found in the config)'),
    ...stateLines(s),
    ...configLines(s.config),
    ...field('Underlay', underlayText(s.underlay)),
    ...field('Bridge', bridgeText(s.bridge)),
    ...field('Loop prevention', loopPreventionText(s.loopPrevention)),
    ...field('Ingress filter', ingressText(s.ingressFilter)),
    ...lastReconcileLines(s.lastReconcile, now),
    '',
    ...linkTable(s.links),
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

function loopPreventionText(l: StatusReport['loopPrevention']): string {
  if (l.mode === 'isolated') return withProblem(`isolated, ${l.present}/${l.expected} isolated ports present`, l.problem);
  return withProblem(`ebtables, ${l.present}/${l.expected} rules present, ${l.isolatedPorts} ports isolated`, l.problem);
}

function ingressText(f: StatusReport['ingressFilter']): string {
  if (!f.enabled) return withProblem('off (ingress_filter: false)', f.problem);
  return withProblem(`${f.present ? `on, VXLAN port open to ${f.peers} peer addresses` : 'missing'}, ${f.droppedPackets} packets from others dropped`, f.problem);
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

const LINK_COLUMNS = ['PEER', 'REMOTE', 'VNI', 'DEVICE', 'STATE', 'MTU', 'RX', 'TX', 'MACS'] as const;
const RIGHT_ALIGNED = new Set<string>(['VNI', 'MTU', 'RX', 'TX', 'MACS']);

function linkTable(links: LinkStatus[]): string[] {
  if (links.length === 0) return ['No links: this node has no remote peers (or is not in the config).'];
  const rows = links.map(linkRow);
  const table = alignColumns([[...LINK_COLUMNS], ...rows]);
  if (links.some((l) => l.legacy)) table.push('', '* VNI taken from a vxlansetup.sh peer\'s list (legacy link)');
  return table;
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
