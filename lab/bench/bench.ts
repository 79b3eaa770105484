#!/usr/bin/env node
/**
 * `npm run bench`: vxmesh beside the vxlansetup.sh baseline, on real kernel objects in
 * network namespaces made (and removed) by this process. Prints a table and writes
 * bench.json, bench.svg and results.md under --out (default docs/bench).
 *
 *   node dist-lab/lab/bench/bench.js [--sizes 8,32,64] [--runs 3] [--edits 20] [--smoke] [--out DIR]
 *                           [--only cold,converge,drift,idle,churn,api,cli,data,plan,modes,status] [--status-peers 500]
 *                           [--churn-veths 3000] [--churn-per-sec 20]
 *                           [--modes-sizes 64,500,2000] [--modes flood-list,isolated,ebtables] [--modes-skip ebtables@500] [--modes-idle-seconds 30]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runBaseline, type BaselineSpec } from './baseline.js';
import { measureMode, MODE_CELLS, MODE_LABEL, modeRefusal, timePlans, type ModeCell } from './modes.js';
import { PER_PEER_MAX_PEERS } from '../../src/config/validate-mode.js';
import {
  baselineColdStart,
  cliStatus,
  convergence,
  dataConfig,
  driftRepair,
  idleCost,
  iperf,
  liveHost,
  apiUnderLoad,
  median,
  peerAddress,
  planScale,
  quantile,
  timeCommands,
  statusIdle,
  vxmeshColdStart,
  type DataConfig,
  type DataMode,
} from './measure.js';
import { vethChurn, type ChurnPhase } from './veth-churn.js';
import { NetnsRegistry, programLabel, sweepDeadNamespaces, Underlay } from '../harness/netns.js';
import { isModesRow, markdownTable, modesMarkdownTable, modesTextTable, svgChart, textTable, type Report, type Row } from './report.js';

interface Options {
  sizes: number[];
  runs: number;
  edits: number;
  drift: number;
  gapMs: number;
  iperfSeconds: number;
  iperfOmit: number;
  idleSeconds: number;
  planSizes: number[];
  statusPeers: number;
  planReps: number;
  modesSizes: number[];
  modes: ModeCell[];
  /** Cells left out of this run (`mode@peers`): reported as not measured, never left blank. */
  modesSkip: Set<string>;
  modesIdleSeconds: number;
  /** Unrelated veths on the mesh host, and how many are replaced each second. */
  churnVeths: number;
  churnPerSec: number;
  dataSizes: number[];
  out: string;
  only: Set<string>;
  smoke: boolean;
}

/** The benchmark's namespaces: apart from the test suite's `vxt` and the demo's `vxdemo`. */
const PREFIX = `vxb${process.pid}`;
const ALL = ['cold', 'converge', 'drift', 'idle', 'churn', 'api', 'cli', 'data', 'plan', 'modes', 'status'];
/** Older spellings that still work: `--only flood` and `--flood-sizes` (the modes figures began as flood-list alone). */
const ONLY_ALIASES: Record<string, string> = { flood: 'modes' };

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string' },
      runs: { type: 'string' },
      edits: { type: 'string' },
      'iperf-seconds': { type: 'string' },
      'idle-seconds': { type: 'string' },
      'plan-sizes': { type: 'string' },
      'modes-sizes': { type: 'string' },
      'flood-sizes': { type: 'string' },
      modes: { type: 'string' },
      'modes-skip': { type: 'string' },
      'modes-idle-seconds': { type: 'string' },
      'status-peers': { type: 'string' },
      'churn-veths': { type: 'string' },
      'churn-per-sec': { type: 'string' },
      out: { type: 'string', default: 'docs/bench' },
      only: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      program: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  // The program to start (default: the built CLI under node); the env var works as well.
  if (values.program) process.env.VXMESH_BENCH_PROGRAM = resolve(values.program);
  if (values.help) {
    process.stdout.write(
      'usage: bench [--program PATH] [--sizes 8,32,64] [--runs 3] [--edits 20] [--iperf-seconds 3] [--idle-seconds 60] [--plan-sizes 500,1000] [--status-peers 500]\n' +
        '             [--modes-sizes 64,500,2000] [--modes flood-list,isolated,ebtables] [--modes-skip MODE@PEERS,...] [--modes-idle-seconds 30]\n' +
        '             [--churn-veths 3000] [--churn-per-sec 20]\n' +
        '             [--smoke] [--out docs/bench] [--only cold,converge,drift,idle,churn,api,cli,data,plan,modes,status]\n' +
        '(--flood-sizes is --modes-sizes, --only flood is --only modes)\n',
    );
    process.exit(0);
  }
  const list = (s: string | undefined, d: number[]) => (s ? s.split(',').map((x) => Number(x.trim())).filter((x) => x > 0) : d);
  const smoke = values.smoke;
  const sizes = list(values.sizes, smoke ? [4] : [8, 32, 64]);
  const edits = Number(values.edits ?? (smoke ? 3 : 20));
  const iperfSeconds = Number(values['iperf-seconds'] ?? (smoke ? 1 : 3));
  return {
    sizes,
    runs: Number(values.runs ?? (smoke ? 1 : 3)),
    edits,
    drift: edits,
    gapMs: smoke ? 150 : 400,
    iperfSeconds,
    iperfOmit: smoke ? 0 : 1,
    idleSeconds: Number(values['idle-seconds'] ?? (smoke ? 3 : 60)),
    // Per-peer mode stops at 1000 peers (a bridge takes 1024 ports); flood-list goes beyond.
    planSizes: list(values['plan-sizes'], smoke ? [50, 200] : [500, PER_PEER_MAX_PEERS]).filter((n) => n <= PER_PEER_MAX_PEERS),
    // The smoke's second size is past per-peer mode's limit, so the refusal rows are made too.
    modesSizes: list(values['modes-sizes'] ?? values['flood-sizes'], smoke ? [16, PER_PEER_MAX_PEERS + 1] : [64, 500, 2000]),
    modes: modeList(values.modes),
    modesSkip: new Set(values['modes-skip'] ? values['modes-skip'].split(',').map((x) => x.trim()) : []),
    modesIdleSeconds: Number(values['modes-idle-seconds'] ?? (smoke ? 2 : 30)),
    statusPeers: Number(values['status-peers'] ?? (smoke ? 10 : 500)),
    churnVeths: Number(values['churn-veths'] ?? (smoke ? 100 : 3000)),
    churnPerSec: Number(values['churn-per-sec'] ?? (smoke ? 10 : 20)),
    planReps: smoke ? 2 : 5,
    dataSizes: [...new Set([1, Math.max(...sizes)])],
    out: resolve(values.out),
    only: new Set(values.only ? values.only.split(',').map((x) => ONLY_ALIASES[x] ?? x) : ALL),
    smoke,
  };
}

function modeList(s: string | undefined): ModeCell[] {
  if (!s) return [...MODE_CELLS];
  const modes = s.split(',').map((x) => x.trim());
  for (const m of modes) if (!MODE_CELLS.includes(m as ModeCell)) throw new Error(`--modes: unknown mode ${m} (${MODE_CELLS.join(', ')})`);
  return modes as ModeCell[];
}

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
/** "12.3x faster" for base/ours, or "2.0x slower" when ours takes longer. */
const speedup = (base: number, ours: number) => (base >= ours ? `${(base / ours).toFixed(1)}x faster` : `${(ours / base).toFixed(1)}x slower`);

/** What every part of the benchmark shares: options, namespaces, the figures so far. */
interface Ctx {
  o: Options;
  reg: NetnsRegistry;
  rows: Row[];
  big: number;
  /** Cold-start figures of the script, by size: the baseline of the convergence figures. */
  baselineStart: Map<number, number>;
  baselineStop: Map<number, number>;
}

/** 6. plan scale: pure functions, no kernel. */
function planFigures({ o, rows }: Ctx): void {
  for (const n of o.planSizes) {
    const p = planScale(n, o.planReps);
    log(`plan ${n} peers: parse ${p.parseMs.toFixed(1)} ms, desired+plan cold ${p.coldMs.toFixed(1)} ms, steady ${p.steadyMs.toFixed(1)} ms`);
    const target = n === PER_PEER_MAX_PEERS ? '< 100 ms' : '';
    const note = 'the script has no planner';
    rows.push(
      { key: `plan_cold@${n}`, id: 'plan_cold', figure: 'plan: desired + plan, empty host', size: n, unit: 'ms', kind: 'compare', vxmesh: r3(p.coldMs), baseline: null, baselineNote: note, ratio: null, ratioText: '', target, pass: target ? p.coldMs < 100 : null, detail: { changes: p.changesCold, peers: n } },
      { key: `plan_steady@${n}`, id: 'plan_steady', figure: 'plan: desired + plan, converged host (resync)', size: n, unit: 'ms', kind: 'compare', vxmesh: r3(p.steadyMs), baseline: null, baselineNote: note, ratio: null, ratioText: '', target, pass: target ? p.steadyMs < 100 : null, detail: { changes: p.changesSteady, peers: n, chainRules: (n - 1) * (n - 2) + 1 } },
      { key: `plan_steady_isolated@${n}`, id: 'plan_steady_isolated', figure: 'plan: converged host, loop_prevention isolated', size: n, unit: 'ms', kind: 'compare', vxmesh: r3(p.steadyIsolatedMs), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '', pass: null, detail: { changes: 0, peers: n } },
      { key: `plan_parse@${n}`, id: 'plan_parse', figure: 'plan: parse + validate peers.yaml', size: n, unit: 'ms', kind: 'compare', vxmesh: r3(p.parseMs), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '', pass: null, detail: { peers: n } },
    );
  }
}

/** Targets of the modes figures: flood-list at 2,000 peers (issue 12). */
const MODES_TARGET_PEERS = 2000;

/**
 * 8. The mesh modes side by side: flood-list, per-peer isolated, per-peer ebtables, per size.
 * Cells per-peer mode refuses, and cells left out with --modes-skip, are rows with a note.
 */
async function modesFigures({ o, reg, rows }: Ctx, ul: Underlay): Promise<void> {
  const FIGURES: [id: string, figure: string, unit: string][] = [
    ['modes_cold_start', 'cold start (process launch, config saved -> every device / fdb entry in place)', 'ms'],
    ['modes_converge', 'a peer added p50 (save -> its fdb entry / port in place)', 'ms'],
    ['modes_drift', 'drift repair p50 (fdb entry / device deleted -> back)', 'ms'],
    ['modes_plan_steady', 'resync plan (converged host, daemon V8 flags)', 'ms'],
    ['modes_status_p95', 'GET /status p95 (idle)', 'ms'],
    ['modes_change_rss', 'resident memory, peak in the 10 s after the last change', 'MB'],
    ['modes_idle_rss', 'idle daemon: resident memory (peak over the idle window)', 'MB'],
    ['modes_idle_cpu', 'idle daemon: CPU incl. the resync commands', 's/min'],
  ];
  const targets: Record<string, [string, (v: number) => boolean]> = {
    modes_cold_start: ['<= 1 s', (v) => v <= 1000],
    modes_plan_steady: ['<= 20 ms', (v) => v <= 20],
    modes_status_p95: ['<= 50 ms', (v) => v <= 50],
    modes_idle_rss: ['<= 70 MB', (v) => v <= 70],
  };
  const cell = (id: string, mode: ModeCell, n: number, value: number | null, detail: Record<string, unknown>, note?: string): Row => {
    const [, figure, unit] = FIGURES.find((f) => f[0] === id)!;
    const t = mode === 'flood-list' && n === MODES_TARGET_PEERS ? targets[id] : undefined;
    return {
      key: `${id}:${mode}@${n}`,
      id,
      figure: `${MODE_LABEL[mode]}: ${figure}`,
      size: n,
      unit,
      kind: 'compare',
      vxmesh: value === null ? null : (unit === 'ms' && value < 100) || unit === 's/min' ? r3(value) : r1(value),
      ...(note ? { note } : {}),
      baseline: null,
      baselineNote: 'the script has one mode (per-peer, flat rule list)',
      ratio: null,
      ratioText: '',
      target: t ? t[0] : '',
      pass: t && value !== null ? t[1](value) : null,
      detail: { mode, peers: n, ...detail },
    };
  };
  for (const n of o.modesSizes) {
    for (const mode of o.modes) {
      const refused = modeRefusal(mode, n);
      if (refused) {
        log(`${MODE_LABEL[mode]} ${n} peers: refused by the config (${refused.slice(0, 80)}...)`);
        const note = `per-peer mode refuses > ${PER_PEER_MAX_PEERS} peers: bridge port limit`;
        for (const [id] of FIGURES) rows.push(cell(id, mode, n, null, { refused }, note));
        continue;
      }
      if (o.modesSkip.has(`${mode}@${n}`)) {
        log(`${MODE_LABEL[mode]} ${n} peers: skipped (--modes-skip)`);
        for (const [id] of FIGURES) rows.push(cell(id, mode, n, null, {}, 'not measured in this run (--modes-skip)'));
        continue;
      }
      const f = await measureMode(reg, ul, { mode, peers: n, runs: o.runs, edits: o.smoke ? 1 : 5, gapMs: o.gapMs, planReps: o.planReps, statusRequests: o.smoke ? 5 : 20, settleMs: o.smoke ? 500 : 2000, quietMs: o.smoke ? 500 : 10_000, idleMs: o.modesIdleSeconds * 1000 }, log);
      const st = quantile(f.statusMs, 0.95);
      log(`${MODE_LABEL[mode]} ${n} peers: cold start ${median(f.coldMs).toFixed(0)} ms, add ${median(f.addMs).toFixed(0)} ms, drift ${median(f.driftMs).toFixed(0)} ms, resync plan ${f.plan.steadyMs.toFixed(2)} ms, GET /status p95 ${st.toFixed(0)} ms, rss ${f.rssAfterChangeMb.toFixed(1)} MB after the changes, ${f.rssMb.toFixed(1)} MB idle, cpu ${f.cpuSecPerMin.toFixed(3)} s/min; kernel ${JSON.stringify(f.kernel)}`);
      rows.push(
        cell('modes_cold_start', mode, n, median(f.coldMs), { runs: f.coldMs.map(r1), kernel: f.kernel, program: programLabel() }),
        cell('modes_converge', mode, n, median(f.addMs), { samples: f.addMs.map(r1), p95: r1(quantile(f.addMs, 0.95)), removeSamples: f.removeMs.map(r1) }),
        cell('modes_drift', mode, n, median(f.driftMs), { samples: f.driftMs.map(r1) }),
        cell('modes_plan_steady', mode, n, f.plan.steadyMs, { samples: f.plan.samples.map(r3), flags: f.plan.flags }),
        cell('modes_status_p95', mode, n, st, { p50: r1(quantile(f.statusMs, 0.5)), requests: f.statusMs.length }),
        cell('modes_change_rss', mode, n, f.rssAfterChangeMb, { windowS: o.smoke ? 0.5 : 10, program: programLabel() }),
        cell('modes_idle_rss', mode, n, f.rssMb, { windowS: o.modesIdleSeconds, after: 'the 10 s after the last change', program: programLabel() }),
        cell('modes_idle_cpu', mode, n, f.cpuSecPerMin, { windowS: o.modesIdleSeconds, resyncS: 30 }),
      );
    }
  }
}

/** 1. cold start. */
async function coldStartFigures({ o, reg, rows, baselineStart, baselineStop }: Ctx, ul: Underlay): Promise<void> {
  for (const n of o.sizes) {
    const cfg: number[] = [];
    const proc: number[] = [];
    const base: number[] = [];
    const stop: number[] = [];
    let processes = 0;
    for (let r = 0; r < o.runs; r++) {
      cfg.push(await vxmeshColdStart(reg, ul, n, 'config'));
      proc.push(await vxmeshColdStart(reg, ul, n, 'process'));
      const b = await baselineColdStart(reg, ul, n);
      base.push(b.start);
      stop.push(b.stop);
      processes = b.processes;
      log(`cold start ${n} remotes, run ${r + 1}: vxmesh ${cfg.at(-1)!.toFixed(0)} ms (config) / ${proc.at(-1)!.toFixed(0)} ms (process), baseline ${b.start.toFixed(0)} ms (+ stop ${b.stop.toFixed(0)} ms)`);
    }
    const v = median(cfg);
    const vp = median(proc);
    const b = median(base);
    baselineStart.set(n, b);
    baselineStop.set(n, median(stop));
    const target = n === 64 ? '>= 20x faster' : '';
    rows.push({ key: `cold_start@${n}`, id: 'cold_start', figure: 'cold start (config saved into running daemon)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(v), baseline: r1(b), ratio: r1(b / v), ratioText: speedup(b, v), target, pass: target ? b / v >= 20 : null, detail: { vxmeshRuns: cfg.map(r1), baselineRuns: base.map(r1), baselineProcesses: processes } });
    const ptarget = n === 64 ? '<= 450 ms' : '';
    rows.push({ key: `cold_start_process@${n}`, id: 'cold_start_process', figure: 'cold start (from process launch to all ports attached)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(vp), baseline: r1(b), ratio: r1(b / vp), ratioText: speedup(b, vp), target: ptarget, pass: ptarget ? vp <= 450 : null, detail: { vxmeshRuns: proc.map(r1), program: programLabel() } });
  }
}

/** 2, 3, 5: one running daemon per size. */
async function liveFigures({ o, reg, rows, big, baselineStart, baselineStop }: Ctx, ul: Underlay): Promise<void> {
  for (const n of o.sizes) {
    const h = await liveHost(reg, ul, n);
    try {
      if (o.only.has('idle') && n === big) {
        await new Promise((r) => setTimeout(r, 3000)); // the reconcile its own changes trigger
        log(`idle cost with ${n} remotes over ${o.idleSeconds} s...`);
        const idle = await idleCost(h, o.idleSeconds * 1000);
        log(`idle: rss ${idle.rssMb.toFixed(1)} MB (+ monitors ${idle.helpersRssMb.toFixed(1)} MB), cpu ${idle.cpuSecPerMin.toFixed(3)} s/min`);
        const note = 'no process: nothing watches the mesh';
        rows.push({ key: `idle_rss@${n}`, id: 'idle_rss', figure: 'idle daemon: resident memory', size: n, unit: 'MB', kind: 'compare', vxmesh: r1(idle.rssMb), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '<= 60 MB', pass: idle.rssMb <= 60, detail: { monitorsRssMb: r1(idle.helpersRssMb), windowS: r1(idle.windowS), program: programLabel() } });
        rows.push({ key: `idle_cpu@${n}`, id: 'idle_cpu', figure: 'idle daemon: CPU (incl. resync children)', size: n, unit: 's/min', kind: 'compare', vxmesh: r3(idle.cpuSecPerMin), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '< 0.5 s/min', pass: idle.cpuSecPerMin < 0.5, detail: { windowS: r1(idle.windowS), resyncS: 30 } });
      }
      if (o.only.has('churn') && n === big) {
        log(`${o.churnVeths} unrelated veths beside ${n} remotes, ${o.churnPerSec}/s replaced, ${o.idleSeconds} s a phase...`);
        const c = await vethChurn(reg, h, { veths: o.churnVeths, churnPerSec: o.churnPerSec, windowMs: o.idleSeconds * 1000 });
        for (const p of c.phases) log(`churn: ${p.label}: cpu ${p.cpuSecPerMin.toFixed(3)} s/min, ${p.reconcilesPerSec.toFixed(2)} reconciles/s`);
        const [alone, standing, churned] = c.phases as [ChurnPhase, ChurnPhase, ChurnPhase];
        const note = 'the same mesh, no veths';
        const detail = { veths: c.veths, churnPerSec: c.churnPerSec, phases: c.phases.map((p) => ({ ...p, cpuSecPerMin: r3(p.cpuSecPerMin), reconcilesPerSec: r3(p.reconcilesPerSec), windowS: r1(p.windowS) })) };
        rows.push({ key: `churn_cpu@${n}`, id: 'churn_cpu', figure: `daemon CPU beside ${c.veths} unrelated veths, ${c.churnPerSec}/s replaced (baseline: ${note})`, size: n, unit: 's/min', kind: 'compare', vxmesh: r3(churned.cpuSecPerMin), baseline: r3(alone.cpuSecPerMin), baselineNote: note, ratio: null, ratioText: `standing: ${r3(standing.cpuSecPerMin)}`, target: '', pass: null, detail });
        rows.push({ key: `churn_reconciles@${n}`, id: 'churn_reconciles', figure: `reconciles beside ${c.veths} unrelated veths, ${c.churnPerSec}/s replaced (baseline: ${note})`, size: n, unit: '/s', kind: 'compare', vxmesh: r3(churned.reconcilesPerSec), baseline: r3(alone.reconcilesPerSec), baselineNote: note, ratio: null, ratioText: `standing: ${r3(standing.reconcilesPerSec)}`, target: '<= mesh alone + 0.05/s', pass: churned.reconcilesPerSec <= alone.reconcilesPerSec + 0.05, detail });
      }
      if (o.only.has('converge')) {
        const c = await convergence(h, o.edits, o.gapMs);
        const p50 = quantile(c.add, 0.5);
        const p95 = quantile(c.add, 0.95);
        log(`convergence ${n} remotes: add p50 ${p50.toFixed(0)} p95 ${p95.toFixed(0)} ms; remove p50 ${quantile(c.remove, 0.5).toFixed(0)} ms`);
        const bs = baselineStart.get(n);
        const bo = baselineStop.get(n);
        const b = bs !== undefined && bo !== undefined ? bs + bo : null;
        const bnote = 'stop + start (an outage); run the cold-start figure for a number';
        rows.push({ key: `converge_p50@${n}`, id: 'converge_p50', figure: 'convergence p50 (rename -> new link up)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p50), baseline: b === null ? null : r1(b), ...(b === null ? { baselineNote: bnote } : {}), ratio: b === null ? null : r1(b / p50), ratioText: b === null ? '' : speedup(b, p50), target: '', pass: null, detail: { samples: c.add.map(r1), removeSamples: c.remove.map(r1), baseline: 'stop + start of the script (every link down meanwhile)' } });
        rows.push({ key: `converge_p95@${n}`, id: 'converge_p95', figure: 'convergence p95 (rename -> new link up)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p95), baseline: b === null ? null : r1(b), ...(b === null ? { baselineNote: bnote } : {}), ratio: b === null ? null : r1(b / p95), ratioText: b === null ? '' : speedup(b, p95), target: '< 300 ms', pass: p95 < 300, detail: { edits: c.add.length, removeP95: r1(quantile(c.remove, 0.95)) } });
      }
      if (o.only.has('drift')) {
        const d = await driftRepair(h, o.drift, o.gapMs);
        const p50 = quantile(d, 0.5);
        const p95 = quantile(d, 0.95);
        log(`drift ${n} remotes: p50 ${p50.toFixed(0)} p95 ${p95.toFixed(0)} ms`);
        const note = 'never (nothing repairs it)';
        rows.push({ key: `drift_p50@${n}`, id: 'drift_p50', figure: 'drift repair p50 (device deleted -> back)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p50), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '', pass: null, detail: { samples: d.map(r1) } });
        rows.push({ key: `drift_p95@${n}`, id: 'drift_p95', figure: 'drift repair p95 (device deleted -> back)', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p95), baseline: null, baselineNote: note, ratio: null, ratioText: '', target: '< 1 s', pass: p95 < 1000 });
      }
      if (o.only.has('cli') && n === big) {
        const c = await cliStatus(h, o.smoke ? 3 : 15);
        const ratio = c.statusMs / c.nodeMs;
        log(`vxmesh status ${c.statusMs.toFixed(0)} ms, node -e 0 ${c.nodeMs.toFixed(0)} ms (${ratio.toFixed(2)}x)`);
        rows.push({ key: `cli_status@${n}`, id: 'cli_status', figure: '`vxmesh status` wall time vs bare `node -e 0`', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(c.statusMs), baseline: r1(c.nodeMs), baselineNote: 'node -e 0', ratio: r3(ratio), ratioText: `${ratio.toFixed(2)}x node -e 0`, target: '<= 2x', pass: ratio <= 2, detail: { status: c.status.map(r1), node: c.node.map(r1), program: programLabel() } });
      }
      if (o.only.has('api') && n === big) {
        const ops = o.smoke ? 8 : 50;
        const a = await apiUnderLoad(h, ops);
        const p95 = quantile(a.probes, 0.95);
        log(`API: GET /status p50 ${quantile(a.probes, 0.5).toFixed(0)} p95 ${p95.toFixed(0)} ms over ${a.probes.length} probes during ${ops} concurrent POSTs (${a.opsMs.toFixed(0)} ms)`);
        rows.push({ key: `api_status_p95@${n}`, id: 'api_status_p95', figure: `GET /status p95 during ${ops} concurrent POSTs`, size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p95), baseline: null, baselineNote: 'the script has no API', ratio: null, ratioText: '', target: '< 100 ms', pass: p95 < 100, detail: { probes: a.probes.length, p50: r1(quantile(a.probes, 0.5)), opsMs: r1(a.opsMs) } });
      }
    } finally {
      await h.close();
    }
  }
}

/** 7. GET /status on an idle daemon with many peers (ebtables mode). */
async function statusFigures({ o, reg, rows }: Ctx, ul: Underlay): Promise<void> {
  const n = o.statusPeers;
  log(`status: ${n} peers, building the mesh...`);
  const s = await statusIdle(reg, ul, n, o.smoke ? 20 : 100, o.smoke ? 1000 : 5000);
  const p95 = quantile(s.ms, 0.95);
  log(`status: ${n} peers (converged in ${s.convergeS.toFixed(0)} s): GET /status p50 ${quantile(s.ms, 0.5).toFixed(1)} p95 ${p95.toFixed(1)} max ${Math.max(...s.ms).toFixed(1)} ms, ${(s.bytes / 1024).toFixed(0)} KiB`);
  rows.push({ key: `status_idle_p95@${n}`, id: 'status_idle_p95', figure: 'GET /status p95, idle daemon, ebtables mode', size: n, unit: 'ms', kind: 'compare', vxmesh: r1(p95), baseline: null, baselineNote: 'the script has no API', ratio: null, ratioText: '', target: n >= 500 ? '<= 50 ms' : '', pass: n >= 500 ? p95 <= 50 : null, detail: { requests: s.ms.length, p50: r1(quantile(s.ms, 0.5)), max: r1(Math.max(...s.ms)), convergeS: r1(s.convergeS), bytes: s.bytes } });
}

/** 4. data path: every configuration built side by side, measured interleaved run by run. */
async function dataPathFigures({ o, reg, rows }: Ctx): Promise<void> {
  const modes: DataMode[] = ['none', 'flat', 'gated', 'isolated'];
  const configs: DataConfig[] = [];
  for (const size of o.dataSizes) {
    for (const mode of modes) {
      log(`data path: building ${mode} with ${size} remote(s)`);
      configs.push(await dataConfig(reg, mode, size));
    }
  }
  const tput = new Map<string, number[]>();
  const key = (c: { mode: string; remotes: number }) => `${c.mode}@${c.remotes}`;
  const ref = configs.find((c) => c.mode === 'none' && c.remotes === 1)!;
  const underlay: number[] = [];
  for (let r = 0; r < o.runs; r++) {
    underlay.push(await iperf(reg, ref.b, ref.a, peerAddress(2), o.iperfSeconds, o.iperfOmit));
    for (const c of configs) {
      const g = await iperf(reg, c.cb, c.ca, '100.64.0.2', o.iperfSeconds, o.iperfOmit);
      tput.set(key(c), [...(tput.get(key(c)) ?? []), g]);
    }
    log(`data path run ${r + 1}: underlay ${underlay.at(-1)!.toFixed(2)} Gbit/s; ${configs.map((c) => `${key(c)} ${tput.get(key(c))!.at(-1)!.toFixed(2)}`).join(', ')}`);
  }
  const ul = median(underlay);
  const perRun = (mode: string, size: number, over: (run: number) => number) => tput.get(`${mode}@${size}`)!.map((g, run) => g / over(run));
  rows.push({ key: 'underlay', id: 'underlay', figure: 'underlay TCP throughput (server to server)', size: null, unit: 'Gbit/s', kind: 'reference', vxmesh: r3(ul), baseline: r3(ul), ratio: null, ratioText: '', target: '', pass: null, detail: { runs: underlay.map(r3) } });
  for (const size of o.dataSizes) {
    const refRun = (run: number) => tput.get(`none@${size}`)![run]!;
    const ulRun = (run: number) => underlay[run]!;
    const none = median(tput.get(`none@${size}`)!);
    const flat = median(tput.get(`flat@${size}`)!);
    const flatRatio = median(perRun('flat', size, refRun));
    rows.push({ key: `throughput_ref@${size}`, id: 'throughput_ref', figure: 'overlay throughput, no loop prevention (reference)', size, unit: 'Gbit/s', kind: 'reference', vxmesh: r3(none), baseline: r3(none), ratio: r3(median(perRun('none', size, ulRun))), ratioText: `${median(perRun('none', size, ulRun)).toFixed(2)}x underlay`, target: '', pass: null, detail: { runs: tput.get(`none@${size}`)!.map(r3) } });
    for (const mode of ['gated', 'isolated'] as const) {
      const v = median(tput.get(`${mode}@${size}`)!);
      const ratio = median(perRun(mode, size, refRun));
      const target = size === 64 ? '>= 0.9x ref' : '';
      rows.push({
        key: `throughput_${mode}@${size}`,
        id: 'throughput',
        figure: `overlay throughput, vxmesh ${mode === 'gated' ? 'ebtables (gated)' : 'isolated'} vs flat list`,
        size,
        unit: 'Gbit/s',
        kind: 'compare',
        vxmesh: r3(v),
        baseline: r3(flat),
        ratio: r3(ratio),
        ratioText: `${ratio.toFixed(2)}x ref (flat ${flatRatio.toFixed(2)}x)`,
        target,
        pass: target ? ratio >= 0.9 : null,
        detail: { mode, runs: tput.get(`${mode}@${size}`)!.map(r3), flatRuns: tput.get(`flat@${size}`)!.map(r3), baselineRatio: r3(flatRatio), reference: r3(none) },
      });
      const ou = median(perRun(mode, size, ulRun));
      const fou = median(perRun('flat', size, ulRun));
      rows.push({ key: `overlay_underlay_${mode}@${size}`, id: 'overlay_underlay', figure: `overlay / underlay, vxmesh ${mode === 'gated' ? 'ebtables (gated)' : 'isolated'} vs flat list`, size, unit: 'x', kind: 'compare', vxmesh: r3(ou), baseline: r3(fou), ratio: null, ratioText: '', target: '', pass: null, detail: { mode } });
    }
  }
}

/** Sort the figures and write bench.json, bench.svg and results.md; print the table. */
function writeReport(o: Options, argv: string[], started: number, rows: Row[]): void {
  const order = ['cold_start', 'cold_start_process', 'cli_status', 'converge_p50', 'converge_p95', 'drift_p50', 'drift_p95', 'underlay', 'throughput_ref', 'throughput', 'overlay_underlay', 'idle_rss', 'idle_cpu', 'churn_cpu', 'churn_reconciles', 'api_status_p95', 'status_idle_p95', 'plan_cold', 'plan_steady', 'plan_steady_isolated', 'plan_parse', 'modes_cold_start', 'modes_converge', 'modes_drift', 'modes_plan_steady', 'modes_status_p95', 'modes_change_rss', 'modes_idle_rss', 'modes_idle_cpu'];
  rows.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id) || (a.size ?? 0) - (b.size ?? 0));
  const report: Report = {
    meta: {
      date: new Date().toISOString(),
      command: `node dist-lab/lab/bench/bench.js ${argv.join(' ')}`.trim(),
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version },
      program: programLabel(),
      options: { sizes: o.sizes, runs: o.runs, edits: o.edits, iperfSeconds: o.iperfSeconds, idleSeconds: o.idleSeconds, planSizes: o.planSizes, modesSizes: o.modesSizes, modes: o.modes, modesSkip: [...o.modesSkip], modesIdleSeconds: o.modesIdleSeconds, dataSizes: o.dataSizes, smoke: o.smoke },
      durationS: Math.round((Date.now() - started) / 1000),
    },
    rows,
  };
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(o.out, 'bench.svg'), svgChart(rows));
  const main = rows.filter((r) => !isModesRow(r));
  const modes = modesMarkdownTable(rows);
  const modesMd = modes ? `${main.length ? '\n' : ''}Mesh modes side by side (one host with the real daemon, the other peers addresses only):\n\n${modes}` : '';
  writeFileSync(join(o.out, 'results.md'), `Measured ${report.meta.date} on ${report.meta.machine.cores} cores (${report.meta.machine.cpu}), kernel ${report.meta.machine.kernel}, Node ${report.meta.machine.node}; \`${report.meta.command}\`, ${report.meta.durationS} s. Program measured: ${report.meta.program}.\n\n` + (main.length ? markdownTable(main) : '') + modesMd);
  process.stdout.write('\n' + (main.length ? textTable(main) : '') + (modes ? `\n${modesTextTable(rows)}` : ''));
  const missed = rows.filter((r) => r.pass === false);
  process.stdout.write(`\n${rows.filter((r) => r.pass === true).length} targets met, ${missed.length} missed${missed.length ? `: ${missed.map((r) => r.key).join(', ')}` : ''}. Written to ${o.out} (bench.json, bench.svg, results.md) in ${report.meta.durationS} s.\n`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '__baseline') {
    // Child mode: run the script's commands here, inside the namespace `ip netns exec` put us in.
    process.stdout.write(JSON.stringify(runBaseline(JSON.parse(argv[1]!) as BaselineSpec)) + '\n');
    return;
  }
  if (argv[0] === '__plan') {
    process.stdout.write(JSON.stringify(await timePlans(JSON.parse(argv[1]!) as { configDir: string; reps: number })) + '\n');
    return;
  }
  if (argv[0] === '__time') {
    process.stdout.write(JSON.stringify(timeCommands(JSON.parse(argv[1]!) as { reps: number; commands: string[][] })) + '\n');
    return;
  }
  const o = options(argv);
  if (process.getuid?.() !== 0) throw new Error('the benchmark must run as root (it creates network namespaces)');
  const started = Date.now();
  // Namespaces left by an earlier benchmark whose process is gone (only `vxb<dead pid>`).
  sweepDeadNamespaces(/^vxb(\d+)[a-z]/);
  const reg = new NetnsRegistry(PREFIX, 'vxmesh-bench-', { signals: true });
  log(`program: ${programLabel()}`);
  log(`namespaces under prefix ${PREFIX}; sizes ${o.sizes.join(',')}, runs ${o.runs}, edits ${o.edits}`);
  const rows: Row[] = [];
  const big = Math.max(...o.sizes);

  const ctx: Ctx = { o, reg, rows, big, baselineStart: new Map(), baselineStop: new Map() };
  if (o.only.has('plan')) planFigures(ctx);
  const ul = await Underlay.create(reg);
  if (o.only.has('modes')) await modesFigures(ctx, ul);
  if (o.only.has('cold')) await coldStartFigures(ctx, ul);
  if (['converge', 'drift', 'idle', 'churn', 'api', 'cli'].some((f) => o.only.has(f))) await liveFigures(ctx, ul);
  if (o.only.has('status')) await statusFigures(ctx, ul);
  await reg.delNs(ul.ns);
  if (o.only.has('data')) await dataPathFigures(ctx);
  writeReport(o, argv, started, rows);
  reg.cleanupSync();
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1); // the exit hook removes every namespace and kills every child
});
