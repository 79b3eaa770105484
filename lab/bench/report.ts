/** The benchmark's report: rows for the table and the JSON, and the SVG chart. */

export interface Row {
  /** Stable key: figure id plus size, e.g. `cold_start@64`. */
  key: string;
  figure: string;
  id: string;
  /** Remotes (or peers, for the plan figure); null where it does not apply. */
  size: number | null;
  unit: string;
  /** 'compare': vxmesh beside the baseline; 'reference': a measured reference (no loop prevention, underlay). */
  kind: 'compare' | 'reference';
  vxmesh: number | null;
  /** Why there is no vxmesh number (a mode that refuses this size, a cell left out of the run). */
  note?: string;
  baseline: number | null;
  /** Why there is no baseline number (the script has no such thing). */
  baselineNote?: string;
  ratio: number | null;
  ratioText: string;
  target: string;
  pass: boolean | null;
  detail?: Record<string, unknown>;
}

export interface Report {
  meta: {
    date: string;
    command: string;
    /** What was started as vxmesh: the built CLI under node, or a packaged executable. */
    program: string;
    machine: { cores: number; cpu: string; memoryGb: number; kernel: string; node: string };
    options: Record<string, unknown>;
    durationS: number;
  };
  rows: Row[];
}

export function fmt(v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (unit === 'ms') return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} ms`;
  if (unit === 'Gbit/s') return `${v.toFixed(2)} Gbit/s`;
  if (unit === 'x') return `${v.toFixed(2)}x`;
  if (unit === 'MB') return `${v.toFixed(1)} MB`;
  if (unit === 's/min') return `${v.toFixed(3)} s/min`;
  return `${v} ${unit}`;
}

function result(r: Row): string {
  return r.pass === null ? '' : r.pass ? 'PASS' : 'MISS';
}

const HEAD = ['figure', 'remotes', 'vxmesh', 'baseline (vxlansetup.sh)', 'ratio', 'target', 'result'];

function cells(r: Row): string[] {
  return [r.figure, r.size === null ? '—' : String(r.size), r.vxmesh === null && r.note ? r.note : fmt(r.vxmesh, r.unit), r.baseline !== null ? fmt(r.baseline, r.unit) : r.baselineNote ?? '—', r.ratioText || '—', r.target || '—', result(r)];
}

/** Plain-text table for the terminal. */
export function textTable(rows: Row[]): string {
  return textGrid(HEAD, rows.map(cells));
}

export function markdownTable(rows: Row[]): string {
  return markdownGrid(HEAD, rows.map(cells));
}

function textGrid(head: string[], body: string[][]): string {
  const all = [head, ...body];
  const widths = head.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n') + '\n';
}

function markdownGrid(head: string[], body: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n') + '\n';
}

/** The mesh-mode figures (id `modes_*`, one row per mode in detail.mode): shown side by side, not in the main table. */
export function isModesRow(r: Row): boolean {
  return r.id.startsWith('modes_');
}

/**
 * One line per figure and size, one column per mode; the target and result are flood-list's
 * (the modes' targets are set for it). A cell without a number says why.
 */
function modesGrid(rows: Row[]): { head: string[]; body: string[][] } {
  const modeRows = rows.filter(isModesRow);
  const modes = [...new Set(modeRows.map((r) => String(r.detail?.mode)))];
  const labels = new Map(modeRows.map((r) => [String(r.detail?.mode), r.figure.slice(0, r.figure.indexOf(': '))]));
  const head = ['figure', 'peers', ...modes.map((m) => labels.get(m)!), 'target (flood-list)', 'result'];
  const lines = new Map<string, Row[]>();
  for (const r of modeRows) {
    const k = `${r.id}@${r.size}`;
    lines.set(k, [...(lines.get(k) ?? []), r]);
  }
  const body = [...lines.values()].map((group) => {
    const first = group[0]!;
    const at = (m: string) => group.find((r) => r.detail?.mode === m);
    const flood = at('flood-list');
    const value = (r: Row | undefined) => (!r ? '—' : r.vxmesh === null && r.note ? r.note : fmt(r.vxmesh, r.unit));
    return [first.figure.slice(first.figure.indexOf(': ') + 2), String(first.size), ...modes.map((m) => value(at(m))), flood?.target || '—', flood ? result(flood) : ''];
  });
  return { head, body };
}

export function modesTextTable(rows: Row[]): string {
  const g = modesGrid(rows);
  return g.body.length ? textGrid(g.head, g.body) : '';
}

export function modesMarkdownTable(rows: Row[]): string {
  const g = modesGrid(rows);
  return g.body.length ? markdownGrid(g.head, g.body) : '';
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Two panels: cold start per size (log scale, vxmesh beside the baseline) and overlay
 * throughput relative to the no-loop-prevention reference (flat list, gated chain, isolated).
 */
const COLORS = { vxmesh: '#2b7bb9', baseline: '#d95f02', gated: '#2b7bb9', isolated: '#1b9e77', flat: '#d95f02' };

export function svgChart(rows: Row[]): string {
  const W = 860;
  const H = 360;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  coldStartPanel(out, rows);
  throughputPanel(out, rows);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Panel 1: cold start, log scale. */
function coldStartPanel(out: string[], rows: Row[]): void {
  const colors = COLORS;
  const cold = rows.filter((r) => r.id === 'cold_start');
  const p1 = { x: 60, y: 40, w: 330, h: 240 };
  out.push(`<text x="${p1.x}" y="22" font-size="13" font-weight="bold">Cold start: empty host to complete mesh (log scale)</text>`);
  const vals = cold.flatMap((r) => [r.vxmesh ?? 1, r.baseline ?? 1]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vals, 10))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vals, 100))));
  const ly = (v: number) => p1.y + p1.h - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * p1.h;
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${p1.x}" x2="${p1.x + p1.w}" y1="${ly(d).toFixed(1)}" y2="${ly(d).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${p1.x - 6}" y="${(ly(d) + 4).toFixed(1)}" text-anchor="end">${xml(fmt(d, 'ms'))}</text>`);
  }
  const group = p1.w / Math.max(1, cold.length);
  cold.forEach((r, i) => {
    const gx = p1.x + i * group;
    const bw = Math.min(40, group / 3);
    const bars: [string, number | null, string][] = [
      ['vxmesh', r.vxmesh, colors.vxmesh],
      ['baseline', r.baseline, colors.baseline],
    ];
    bars.forEach(([, v, c], k) => {
      if (v === null || !(v > 0)) return;
      const x = gx + group / 2 - bw + k * bw;
      const y = ly(Math.max(v, lo));
      out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(p1.y + p1.h - y).toFixed(1)}" fill="${c}"/>`);
      out.push(`<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="9">${xml(fmt(v, 'ms'))}</text>`);
    });
    out.push(`<text x="${(gx + group / 2).toFixed(1)}" y="${p1.y + p1.h + 14}" text-anchor="middle">${r.size} remotes${r.ratio ? ` (${r.ratio.toFixed(0)}x)` : ''}</text>`);
  });
  out.push(`<line x1="${p1.x}" x2="${p1.x}" y1="${p1.y}" y2="${p1.y + p1.h}" stroke="#333"/>`);
  legend(out, p1.x, 318, [
    ['vxmesh (config saved into running daemon)', colors.vxmesh],
    ['vxlansetup.sh baseline', colors.baseline],
  ]);
}

/** Panel 2: throughput ratios. */
function throughputPanel(out: string[], rows: Row[]): void {
  const colors = COLORS;
  const p2 = { x: 480, y: 40, w: 350, h: 240 };
  out.push(`<text x="${p2.x}" y="22" font-size="13" font-weight="bold">Overlay TCP throughput vs no loop prevention</text>`);
  const tp = rows.filter((r) => r.id === 'throughput' && r.kind === 'compare');
  const sizes = [...new Set(tp.map((r) => r.size))].sort((a, b) => (a ?? 0) - (b ?? 0));
  const maxR = 1.2;
  const ry = (v: number) => p2.y + p2.h - (Math.min(v, maxR) / maxR) * p2.h;
  for (const t of [0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]) {
    out.push(`<line x1="${p2.x}" x2="${p2.x + p2.w}" y1="${ry(t).toFixed(1)}" y2="${ry(t).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${p2.x - 6}" y="${(ry(t) + 4).toFixed(1)}" text-anchor="end">${t.toFixed(1)}x</text>`);
  }
  out.push(`<line x1="${p2.x}" x2="${p2.x + p2.w}" y1="${ry(0.9).toFixed(1)}" y2="${ry(0.9).toFixed(1)}" stroke="#c00" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${p2.x + p2.w}" y="${(ry(0.9) - 3).toFixed(1)}" text-anchor="end" fill="#c00" font-size="9">target 0.9x</text>`);
  const g2 = p2.w / Math.max(1, sizes.length);
  sizes.forEach((size, i) => {
    const gx = p2.x + i * g2;
    const bw = Math.min(40, g2 / 4);
    const at = (mode: string) => tp.find((r) => r.size === size && r.detail?.mode === mode);
    const flat = at('gated');
    const series: [string, number | null | undefined, string][] = [
      ['flat', flat ? (flat.detail?.baselineRatio as number | null) : null, colors.flat],
      ['gated', at('gated')?.ratio, colors.gated],
      ['isolated', at('isolated')?.ratio, colors.isolated],
    ];
    series.forEach(([, v, c], k) => {
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = gx + g2 / 2 - 1.5 * bw + k * bw;
      const y = ry(v);
      out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${(p2.y + p2.h - y).toFixed(1)}" fill="${c}"/>`);
      out.push(`<text x="${(x + bw / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="9">${v.toFixed(2)}</text>`);
    });
    out.push(`<text x="${(gx + g2 / 2).toFixed(1)}" y="${p2.y + p2.h + 14}" text-anchor="middle">${size} remote${size === 1 ? '' : 's'}</text>`);
  });
  out.push(`<line x1="${p2.x}" x2="${p2.x}" y1="${p2.y}" y2="${p2.y + p2.h}" stroke="#333"/>`);
  legend(out, p2.x, 318, [
    ['flat FORWARD list (baseline)', colors.flat],
    ['vxmesh gated chain', colors.gated],
    ['vxmesh isolated', colors.isolated],
  ]);
}

/** One legend entry per line, from (x, y) down. */
function legend(out: string[], x: number, y: number, items: [string, string][]): void {
  items.forEach(([label, color], k) => {
    const cy = y + k * 15;
    out.push(`<rect x="${x}" y="${cy - 9}" width="10" height="10" fill="${color}"/>`);
    out.push(`<text x="${x + 14}" y="${cy}">${xml(label)}</text>`);
  });
}
