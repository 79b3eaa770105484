import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatIssue, loadConfig, type ConfigIssue } from '../config/load.js';
import { KernelMonitor } from '../kernel/monitor.js';
import { learnedMacs, observe } from '../kernel/observe.js';
import { CommandRunner } from '../kernel/runner.js';
import { currentUnderlay, localAddresses } from '../model/state.js';
import type { Config } from '../model/types.js';
import { computeDesired, findSelf } from '../plan/desired.js';
import { reconcile, type Goal, type ReconcileOutcome } from './reconcile.js';
import { SyncScheduler } from './scheduler.js';
import { buildStatus } from './report.js';
import type { Counters, MeshControl, OperationResult, ReconcileReport, StatusReport } from './status.js';
import { watchConfig } from './watch.js';
import { pathExists } from '../util/fs.js';

export interface DaemonOptions {
  configDir: string;
  stateDir: string;
  node: string | undefined;
  log: Logger;
  resyncMs?: number;
  debounceMs?: number;
}

const STOPPED_MARKER = 'stopped';
const RECHECK_MS = 300;

/**
 * The long-running part: keeps the kernel reconciled to the config. Every change to the
 * network goes through `exclusive`, so API calls, config saves and kernel events never
 * interleave half-applied plans.
 */
export class Daemon implements MeshControl {
  readonly runner: CommandRunner;
  private readonly log: Logger;
  private config: Config | undefined;
  private configIssues: ConfigIssue[] | null = null;
  private configLoadedAt: Date | undefined;
  private stopped = false;
  private last: { report: ReconcileReport; outcome: ReconcileOutcome } | undefined;
  private readonly counters: Counters = { reconciles: 0, reconcileErrors: 0, driftRepairs: 0, configErrors: 0, changesApplied: 0 };
  private lock: Promise<unknown> = Promise.resolve();
  private scheduler: SyncScheduler;
  private monitor: KernelMonitor | undefined;
  private watcher: ReturnType<typeof watchConfig> | undefined;
  private statusInFlight: Promise<StatusReport> | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.log = opts.log;
    this.runner = new CommandRunner(opts.log.child({ component: 'runner' }));
    this.scheduler = new SyncScheduler((reasons) => this.exclusive(() => this.sync(reasons)), {
      debounceMs: opts.debounceMs ?? 50,
      // Hosts with busy firewalls or many containers see events all the time: at most 4 syncs/s.
      minIntervalMs: 250,
      resyncMs: opts.resyncMs ?? 30_000,
      backoffMinMs: 500,
      backoffMaxMs: 30_000,
      onError: (err) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'sync failed'),
    });
  }

  /** Load config, adopt what the kernel has, and start watching. Does not wait for the network. */
  async run(): Promise<void> {
    await mkdir(this.opts.stateDir, { recursive: true, mode: 0o700 });
    this.stopped = await pathExists(join(this.opts.stateDir, STOPPED_MARKER));
    if (this.stopped) this.log.warn({ marker: join(this.opts.stateDir, STOPPED_MARKER) }, 'mesh was stopped with `vxmesh stop`; it stays down until `vxmesh start`');
    await this.loadConfig();
    this.watcher = watchConfig(this.opts.configDir, () => this.scheduler.request('config'));
    this.monitor = new KernelMonitor(this.log.child({ component: 'monitor' }), (source) => this.scheduler.request(`kernel:${source}`));
    this.monitor.start();
    this.scheduler.start();
    this.scheduler.request('start', 0);
  }

  async close(): Promise<void> {
    this.scheduler.close();
    this.monitor?.close();
    await this.watcher?.close();
    await this.lock.catch(() => undefined);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** Read the config dir. A bad config is recorded and the last good one stays in force. */
  private async loadConfig(): Promise<void> {
    const r = await loadConfig(this.opts.configDir);
    if (r.ok) {
      const changed = JSON.stringify(r.config) !== JSON.stringify(this.config);
      if (changed || this.configIssues) this.log.info({ files: r.config.files, peers: r.config.peers.length, warnings: r.config.warnings }, 'config loaded');
      this.config = r.config;
      this.configIssues = null;
      if (changed || !this.configLoadedAt) this.configLoadedAt = new Date();
      return;
    }
    const text = r.issues.map(formatIssue);
    if (JSON.stringify(r.issues) !== JSON.stringify(this.configIssues)) {
      this.counters.configErrors++;
      this.log.error({ errors: text }, this.config ? 'config invalid; the last good config stays applied' : 'config invalid; nothing applied');
    }
    this.configIssues = r.issues;
  }

  private goal(): Goal | undefined {
    if (this.stopped) return undefined;
    return this.config ? { kind: 'mesh', config: this.config, node: this.opts.node } : undefined;
  }

  private async sync(reasons: Set<string>): Promise<{ ok: boolean }> {
    if (['config', 'recheck', 'resync', 'start', 'retry'].some((r) => reasons.has(r))) await this.loadConfig();
    // A save read halfway (an in-place write caught between truncate and write) may get no
    // further file event: read the files once more shortly after every save.
    if (reasons.has('config')) setTimeout(() => this.scheduler.request('recheck'), RECHECK_MS).unref();
    const goal = this.goal();
    if (!goal) return { ok: true };
    const outcome = await this.reconcileWith(goal, [...reasons].sort().join(','));
    const drift = !reasons.has('config') && !reasons.has('recheck') && !reasons.has('start') && ![...reasons].some((r) => r.startsWith('op:'));
    if (drift && outcome.changes.length > 0) this.counters.driftRepairs++;
    return { ok: outcome.errors.length === 0 };
  }

  private async reconcileWith(goal: Goal, trigger: string): Promise<ReconcileOutcome> {
    const outcome = await reconcile(this.runner, this.log.child({ component: 'reconcile' }), goal);
    this.counters.reconciles++;
    if (outcome.errors.length) this.counters.reconcileErrors++;
    this.counters.changesApplied += outcome.changes.length;
    const report: ReconcileReport = { at: new Date().toISOString(), durationMs: outcome.durationMs, trigger, changes: outcome.changes, errors: outcome.errors };
    if (outcome.changes.length || outcome.errors.length) this.log.info({ trigger, durationMs: outcome.durationMs, changes: outcome.changes.length, errors: outcome.errors.length }, 'reconciled');
    this.last = { report, outcome };
    return outcome;
  }

  private result(operation: OperationResult['operation'], outcome: ReconcileOutcome | undefined, extraErrors: string[] = []): OperationResult {
    const errors = [...(outcome?.errors ?? []), ...extraErrors];
    const state = this.stopped ? 'stopped' : errors.length || outcome?.waiting || outcome?.blocked.length ? 'degraded' : 'running';
    return { ok: errors.length === 0, operation, state, changes: outcome?.changes ?? [], errors };
  }

  start(): Promise<OperationResult> {
    return this.exclusive(() => this.doStart('start'));
  }

  stop(): Promise<OperationResult> {
    return this.exclusive(() => this.doStop());
  }

  restart(): Promise<OperationResult> {
    return this.exclusive(async () => {
      const down = await this.doStop();
      const up = await this.doStart('restart');
      return { ...up, changes: [...down.changes, ...up.changes], errors: [...down.errors, ...up.errors], ok: down.ok && up.ok };
    });
  }

  reload(): Promise<OperationResult> {
    return this.exclusive(async () => {
      await this.loadConfig();
      const goal = this.goal();
      const configErrors = this.configIssues ? this.configIssues.map(formatIssue) : [];
      const outcome = goal ? await this.reconcileWith(goal, 'op:reload') : undefined;
      return this.result('reload', outcome, configErrors);
    });
  }

  private async doStart(operation: 'start' | 'restart'): Promise<OperationResult> {
    // The marker goes first: if it cannot be removed, the mesh would not come back at boot.
    await rm(join(this.opts.stateDir, STOPPED_MARKER), { force: true });
    this.stopped = false;
    await this.loadConfig();
    const goal = this.goal();
    if (!goal) return this.result(operation, undefined, (this.configIssues ?? []).map(formatIssue));
    this.log.info({ operation }, 'mesh started');
    return this.result(operation, await this.reconcileWith(goal, `op:${operation}`));
  }

  private async doStop(): Promise<OperationResult> {
    // The marker is written first: a crash mid-teardown must not bring the mesh back at boot,
    // and if it cannot be written the mesh stays up and reconciled (the error says why).
    await writeFile(join(this.opts.stateDir, STOPPED_MARKER), `stopped at ${new Date().toISOString()}\n`);
    this.stopped = true;
    const outcome = await this.reconcileWith({ kind: 'teardown' }, 'op:stop');
    this.log.info({ removed: outcome.changes.length }, 'mesh stopped');
    return this.result('stop', outcome);
  }

  /** Concurrent callers share one kernel read: /status, /healthz and /metrics need no token. */
  status(): Promise<StatusReport> {
    this.statusInFlight ??= this.readStatus().finally(() => {
      this.statusInFlight = undefined;
    });
    return this.statusInFlight;
  }

  private async readStatus(): Promise<StatusReport> {
    const cfg = this.config;
    const [actual, macs] = await Promise.all([observe(this.runner), cfg ? learnedMacs(this.runner, cfg.mesh.bridge) : new Map<string, number>()]);
    const self = cfg ? findSelf(cfg, this.opts.node, localAddresses(actual.links), currentUnderlay(actual.links)) : undefined;
    const desired = cfg && self?.ok ? computeDesired(cfg, self.self, self.underlay, self.local) : undefined;
    return buildStatus({
      configDir: this.opts.configDir,
      config: cfg,
      configIssues: this.configIssues,
      configLoadedAt: this.configLoadedAt,
      stopped: this.stopped,
      self: self?.ok ? self.self : undefined,
      selfProblem: self && !self.ok ? self.reason : undefined,
      underlay: self?.ok ? self.underlay : undefined,
      movedFrom: self?.ok ? self.movedFrom : undefined,
      desired,
      actual,
      macs,
      last: this.last,
      counters: this.counters,
    });
  }
}

