import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_JS } from '../helpers/lab.js';

/**
 * The benchmark's harness, run tiny (one small size, one iteration, 1 s iperf) so it cannot
 * rot. Timing targets are not checked here: they live in the benchmark's own report.
 */
const MODE_IDS = ['modes_cold_start', 'modes_converge', 'modes_drift', 'modes_plan_steady', 'modes_status_p95', 'modes_change_rss', 'modes_idle_rss', 'modes_idle_cpu'];
/**
 * CPU over the smoke's short idle windows (no resync falls in them) can truly be 0 ticks, and a
 * daemon that ignores unrelated veths runs no reconcile for them (and the mesh alone none either).
 */
const MAY_BE_ZERO = new Set(['idle_cpu', 'modes_idle_cpu', 'churn_cpu', 'churn_reconciles']);

describe('bench --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'vxmesh-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('measures every figure for vxmesh beside the baseline and cleans up its namespaces', async () => {
    const child = execa(process.execPath, [BENCH_JS, '--smoke', '--out', out], { reject: false, timeout: 280_000 });
    const r = await child;
    expect(r.exitCode, `${r.stderr}\n${r.stdout}`).toBe(0);

    const report = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8')) as {
      meta: { machine: { cores: number; kernel: string }; date: string };
      rows: { key: string; id: string; kind: string; size: number | null; vxmesh: number | null; note?: string; baseline: number | null; baselineNote?: string; target: string; pass: boolean | null; detail?: { mode?: string; refused?: string } }[];
    };
    expect(report.meta.machine.cores).toBeGreaterThan(0);
    expect(report.meta.machine.kernel).not.toBe('');

    const ids = new Set(report.rows.map((row) => row.id));
    for (const id of ['cold_start', 'cold_start_process', 'cli_status', 'converge_p50', 'converge_p95', 'drift_p50', 'drift_p95', 'underlay', 'throughput_ref', 'throughput', 'overlay_underlay', 'idle_rss', 'idle_cpu', 'churn_cpu', 'churn_reconciles', 'api_status_p95', 'status_idle_p95', 'plan_cold', 'plan_steady', 'plan_steady_isolated', ...MODE_IDS]) {
      expect(ids, `figure ${id} missing`).toContain(id);
    }
    for (const row of report.rows) {
      // A cell per-peer mode refuses has no number, and says why.
      if (row.note) expect(row.vxmesh, `${row.key}: ${row.note}`).toBeNull();
      else if (MAY_BE_ZERO.has(row.id)) expect(row.vxmesh, `${row.key}: vxmesh`).toBeGreaterThanOrEqual(0);
      else expect(row.vxmesh, `${row.key}: vxmesh`).toBeGreaterThan(0);
      // The baseline beside it: a number, or why the script has none (it never repairs drift, has no daemon, no planner).
      if (row.baseline === null) expect(row.baselineNote, `${row.key}: baseline`).toBeTruthy();
      else if (MAY_BE_ZERO.has(row.id)) expect(row.baseline, `${row.key}: baseline`).toBeGreaterThanOrEqual(0);
      else expect(row.baseline, `${row.key}: baseline`).toBeGreaterThan(0);
    }
    // The modes side by side: every mode measured at the small size; past per-peer mode's limit
    // only flood-list is, and the per-peer cells carry the config's refusal.
    for (const id of MODE_IDS) {
      const at = (mode: string, size: number) => report.rows.find((row) => row.id === id && row.detail?.mode === mode && row.size === size);
      const measured = (v: number | null | undefined, what: string) => (MAY_BE_ZERO.has(id) ? expect(v, what).toBeGreaterThanOrEqual(0) : expect(v, what).toBeGreaterThan(0));
      for (const mode of ['flood-list', 'isolated', 'ebtables']) measured(at(mode, 16)?.vxmesh, `${id} ${mode}@16`);
      measured(at('flood-list', 1001)?.vxmesh, `${id} flood-list@1001`);
      for (const mode of ['isolated', 'ebtables']) {
        expect(at(mode, 1001)?.note, `${id} ${mode}@1001`).toBe('per-peer mode refuses > 1000 peers: bridge port limit');
        expect(at(mode, 1001)?.detail?.refused).toMatch(/per-peer mode cannot take 1001 peers.*1024 ports/);
      }
    }
    const kernel = (mode: string) => (report.rows.find((row) => row.id === 'modes_cold_start' && row.detail?.mode === mode && row.size === 16)?.detail as { kernel?: Record<string, number> }).kernel;
    expect(kernel('flood-list')).toEqual({ vxlanDevices: 1, fdbFloodEntries: 15, isolatedPorts: 0, ebtablesRules: 0 });
    expect(kernel('isolated')).toMatchObject({ vxlanDevices: 15, isolatedPorts: 15, ebtablesRules: 0 });
    expect(kernel('ebtables')?.ebtablesRules).toBeGreaterThan(0);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('| figure | peers | flood-list | per-peer isolated | per-peer ebtables |');

    // The data path: 1 remote and the smoke size, each loop-prevention mode beside the flat list.
    const tp = report.rows.filter((row) => row.id === 'throughput');
    expect(tp.length).toBe(4);
    expect(readFileSync(join(out, 'bench.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    expect(existsSync(join(out, 'results.md'))).toBe(true);
    expect(r.stdout).toContain('cold start');

    // Nothing left behind under the benchmark's namespace prefix.
    const left = (await execa('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(`vxb${child.pid}`));
    expect(left).toEqual([]);
  }, 290_000);
});
