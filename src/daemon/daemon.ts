import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { formatIssue, type ConfigIssue } from '../config/load.js';
import { ConfigReader, configFingerprint, encodeSavedConfig, readSavedConfig, type SavedConfig } from '../config/reader.js';
import { pinBridgeIpv6 } from '../kernel/bridge-sysctl.js';
import { KernelMonitor } from '../kernel/monitor.js';
import { watchedInterfaces } from '../plan/watched-interfaces.js';
import { learnedMacs, multicastGroups, observe } from '../kernel/observe.js';
import { readEvpn } from '../kernel/frr-observe.js';
import type { EvpnRead } from '../evpn/status.js';
import { CommandRunner, withDeadline, type Runner } from '../kernel/runner.js';
import { describeBackend, probeEbtablesBackend } from '../kernel/ebtables-backend.js';
import type { EbtablesChoice } from '../model/ebtables.js';
import type { ActualState } from '../model/state.js';
import { attachedOwnedPorts } from '../plan/plan.js';
import type { Config } from '../model/types.js';
import { isEmptyPlan } from '../plan/plan.js';
import { systemClock, type Clock } from './clock.js';
import { planFor, reconcile, type Goal, type ReconcileOutcome } from './reconcile.js';
import { buildStatus } from './report.js';
import { SyncScheduler, type Batch } from './scheduler.js';
import type { Counters, MeshControl, OperationResult, ReconcileReport, StatusReport } from './status.js';
import { describeTrigger, isDriftOnly, type Operation, type Trigger } from './trigger.js';
import { watchConfig } from './watch.js';
import { pathExists } from '../util/fs.js';
import { ProbeService } from '../health/service.js';
import { computeProbeSetup } from './probe-setup.js';
import { ensurePrivateKey, readPublicKey } from '../keys/private-key.js';
import { existingWireguard, probeWireguard, type WireguardChoice } from '../kernel/wireguard-probe.js';
import { wireguardDeviceOf } from './reconcile.js';
import type { WireguardHost } from '../plan/wireguard.js';

export interface DaemonOptions {
  configDir: string;
  stateDir: string;
  node: string | undefined;
  log: Logger;
  resyncMs?: number;
  debounceMs?: number;
  /** The command runner (a strict fake in unit tests); the real one by default. */
  runner?: Runner;
  clock?: Clock;
}

const STOPPED_MARKER = 'stopped';
/** The last config that loaded and validated, used at start when the files are invalid. */
const LAST_GOOD = 'last-good-config.json';

const RECHECK_MS = 300;
/**
 * A config that removes peers is applied only once the files read the same this long apart:
 * a slow in-place writer caught after a prefix of the peers list must not delete links.
 * Additions are not held back by a half-written file that is otherwise the same: only removals wait.
 */
const STABLE_MS = 1500;
/** Status reads links and counters again at most this often (the chain comes from the last reconcile). */
const STATUS_MAX_AGE_MS = 1000;
const NOT_PROBED = 'ebtables backend not probed yet';
/** No run may take longer: the runner kills a command still running then, and the run fails naming it. */
const RUN_DEADLINE_MS = 20_000;
/** GET /status waits this long for a fresh kernel read, then answers from the last one: a stuck tool must not stall it. */
const STATUS_WAIT_MS = 2000;
/** A status read's commands are ended by then (it goes on in the background past STATUS_WAIT_MS). */
const STATUS_READ_MS = 10_000;
/** A kernel event this soon after a run is taken as that run's own (the monitor reports within milliseconds). */
const ECHO_MS = 200;

/**
 * The long-running part: keeps the kernel reconciled to the config. Every change to the
 * network goes through the one scheduler queue: config saves, kernel events, the resync,
 * retries and operators' start/stop/restart/reload never interleave half-applied plans.
 */
export class Daemon implements MeshControl {
  private readonly runner: Runner;
  private readonly log: Logger;
  private readonly clock: Clock;
  private config: Config | undefined;
  /** configFingerprint of `config`: a hash, so no copy of a large config is kept as text. */
  private fingerprint: string | undefined;
  private readonly reader: ConfigReader;
  private configIssues: ConfigIssue[] | null = null;
  private configLoadedAt: Date | undefined;
  /** Set when the config in force came from the state directory (the files were invalid at start). */
  private configFromState: string | undefined;
  /** A read that removes peers, waiting for the files to read the same again. */
  private pendingRemoval: { fingerprint: string; since: number; peers: string[] } | undefined;
  /** Digest of the sources of the last good config saved in the state directory. */
  private lastGoodSaved: string | undefined;
  /** At start only: the saved last good config, reused if the files still read the same. */
  private savedAtStart: SavedConfig | undefined;
  private stableTimer: unknown;
  private stopped = false;
  private last: { report: ReconcileReport; outcome: ReconcileOutcome } | undefined;
  /** The runner for the run under way: its commands end by the run's deadline. */
  private runRunner: Runner;
  /** When a reconcile last succeeded (clock time), and when the daemon started. */
  private lastSuccessAt: number | undefined;
  private startedAt = 0;
  /** Why the last kernel read for status failed (the report then shows the read before it). */
  private statusReadError: string | undefined;
  private readonly counters: Counters = { reconciles: 0, reconcileErrors: 0, driftRepairs: 0, configErrors: 0, changesApplied: 0 };
  private readonly scheduler: SyncScheduler<OperationResult | undefined>;
  private monitor: KernelMonitor | undefined;
  private watcher: ReturnType<typeof watchConfig> | undefined;
  private refreshing: Promise<void> | undefined;
  /**
   * The last read of the kernel (by a reconcile or by status), when, and how many nft events
   * had been seen before it began: while that count holds and nft monitor runs, the ebtables
   * chain it read is still current (one process spared per status refresh).
   */
  private observed: { actual: ActualState; at: number; nftEvents: number } | undefined;
  private nftEvents = 0;
  private ebtables: EbtablesChoice = { backend: undefined, problem: NOT_PROBED };
  /** Encrypted mode: the WireGuard implementation and this server's key, found at the first sync that needs them. */
  private wgChoice: WireguardChoice | undefined;
  private wgKey: { path: string; publicKey: string | undefined; problem: string | undefined } | undefined;
  private markFirstSync: () => void = () => undefined;
  private readonly firstSyncDone = new Promise<void>((resolve) => {
    this.markFirstSync = resolve;
  });
  private macs: { counts: Map<string, number>; at: number } | undefined;
  /** multicast mode: the groups joined on the underlay, read with the counters. */
  private joined: { groups: string[] | undefined; at: number } | undefined;
  /** control: evpn: the control plane's last read for status (sessions, VNI, MACs). */
  private evpn: { read: EvpnRead; at: number } | undefined;
  /** The last report and what it was built from: rebuilt only when one of them changed. */
  private statusCache: { inputs: unknown[]; report: StatusReport } | undefined;
  /** Link health through the overlay: reports only, never changes the data plane. */
  private readonly probe: ProbeService;

  constructor(private readonly opts: DaemonOptions) {
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.reader = new ConfigReader(opts.configDir);
    this.runner = opts.runner ?? new CommandRunner(opts.log.child({ component: 'runner' }));
    this.runRunner = this.runner;
    this.probe = new ProbeService(opts.log.child({ component: 'probe' }), this.runner);
    this.scheduler = new SyncScheduler<OperationResult | undefined>((batch) => this.sync(batch), {
      debounceMs: opts.debounceMs ?? 50,
      // Hosts with busy firewalls or many containers see events all the time: at most 4 syncs/s.
      minIntervalMs: 250,
      resyncMs: opts.resyncMs ?? 30_000,
      backoffMinMs: 500,
      backoffMaxMs: 30_000,
      recheckMs: RECHECK_MS,
      echoMs: ECHO_MS,
      runDeadlineMs: RUN_DEADLINE_MS,
      onError: (err) => this.log.error({ err }, 'sync failed'),
      clock: this.clock,
    });
  }

  /** Load config, adopt what the kernel has, and start watching. Does not wait for the network. */
  async run(): Promise<void> {
    this.startedAt = this.clock.now();
    await mkdir(this.opts.stateDir, { recursive: true, mode: 0o700 });
    this.stopped = await pathExists(join(this.opts.stateDir, STOPPED_MARKER));
    if (this.stopped) this.log.warn({ marker: join(this.opts.stateDir, STOPPED_MARKER) }, 'mesh was stopped with `vxmesh stop`; it stays down until `vxmesh start`');
    this.savedAtStart = await this.readLastGood();
    this.lastGoodSaved = this.savedAtStart?.digest;
    if (this.savedAtStart?.digest) this.reader.adopt(this.savedAtStart.digest, this.savedAtStart.config);
    await this.loadConfig();
    if (!this.config && this.configIssues) this.useLastGood();
    this.savedAtStart = undefined;
    await this.chooseEbtables();
    this.watcher = watchConfig(this.opts.configDir, () => this.trigger({ kind: 'config', cause: 'saved' }), (err) =>
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'config watcher error; saves may be seen only at the periodic resync'),
    );
    this.monitor = new KernelMonitor(this.log.child({ component: 'monitor' }), (source) => {
      if (source === 'nft') this.nftEvents++;
      this.trigger({ kind: 'kernel', source: source === 'nft' || source === 'bridge' ? source : 'ip' });
    });
    this.monitor.start();
    this.scheduler.start();
    this.scheduler.request({ kind: 'config', cause: 'start' }, 0);
  }

  /** A trigger from the config watcher or a kernel monitor. */
  trigger(t: Trigger): void {
    this.scheduler.request(t);
  }

  async close(): Promise<void> {
    if (this.stableTimer !== undefined) this.clock.clearTimeout(this.stableTimer);
    this.monitor?.close();
    await this.probe.close();
    await this.watcher?.close();
    await this.scheduler.close();
  }

  /**
   * Read the config dir. A bad config is recorded and the last good one stays in force. With
   * `removalWaits`, a config that removes peers is held until the files read the same
   * STABLE_MS apart (the re-read is scheduled here); operators' start and reload apply at once.
   */
  private async loadConfig(removalWaits = false): Promise<void> {
    const r = await this.reader.load();
    if (r.ok) {
      // Files that read the same give the same object: no need to hash it again.
      const fingerprint = r.config === this.config && this.fingerprint ? this.fingerprint : configFingerprint(r.config);
      const changed = fingerprint !== this.fingerprint;
      const removed = changed && this.config ? removedPeers(this.config, r.config) : [];
      if (removalWaits && removed.length > 0) {
        const now = this.clock.now();
        if (this.pendingRemoval?.fingerprint !== fingerprint) {
          this.pendingRemoval = { fingerprint, since: now, peers: removed };
          this.log.info({ removed, waitMs: STABLE_MS }, 'config removes peers; applied once the files read the same again');
        }
        const wait = STABLE_MS - (now - this.pendingRemoval.since);
        if (wait > 0) {
          this.recheckStable(wait);
          return;
        }
      }
      this.pendingRemoval = undefined;
      // `parsed: false`: the files read as those of the config saved by the last run, which is taken as is.
      if (changed || this.configIssues) this.log.info({ files: r.config.files, peers: r.config.peers.length, warnings: r.config.warnings, parsed: r.config !== this.savedAtStart?.config }, 'config loaded');
      this.config = r.config;
      this.fingerprint = fingerprint;
      this.configIssues = null;
      this.configFromState = undefined;
      if (changed || !this.configLoadedAt) this.configLoadedAt = new Date();
      await this.saveLastGood(this.reader.digest);
      return;
    }
    this.pendingRemoval = undefined;
    const text = r.issues.map(formatIssue);
    if (JSON.stringify(r.issues) !== JSON.stringify(this.configIssues)) {
      this.counters.configErrors++;
      this.log.error({ errors: text }, this.config ? 'config invalid; the last good config stays applied' : 'config invalid; nothing applied');
    }
    this.configIssues = r.issues;
  }

  /**
   * Decided once at start. Only while none works is it probed again at each sync, so installing
   * the missing package heals the mesh without a restart.
   */
  private async chooseEbtables(): Promise<void> {
    if (this.ebtables.backend) return;
    const first = this.ebtables.problem === NOT_PROBED;
    this.ebtables = await probeEbtablesBackend(this.runner);
    const b = this.ebtables.backend;
    if (b) this.log.info({ backend: b.name, commands: [b.ebtables, b.save, b.restore] }, `ebtables backend: ${describeBackend(b)}`);
    else if (first) {
      const needed = this.config?.mesh.loopPrevention !== 'isolated';
      this.log[needed ? 'error' : 'info']({ problem: this.ebtables.problem }, needed ? 'no working ebtables: no VXLAN port joins the bridge until one works' : 'no working ebtables (not needed with loop_prevention: isolated)');
    }
  }

  /** Settles when the first sync after start has run (whatever its outcome). */
  firstSync(): Promise<void> {
    return this.firstSyncDone;
  }

  /** One timer for the re-read that may apply a held removal: runs in between do not re-arm it sooner. */
  private recheckStable(delayMs: number): void {
    if (this.stableTimer !== undefined) this.clock.clearTimeout(this.stableTimer);
    this.stableTimer = this.clock.setTimeout(() => {
      this.stableTimer = undefined;
      this.trigger({ kind: 'config', cause: 'recheck' });
    }, delayMs);
  }

  /**
   * Keep the config in force in the state directory (atomically), with the digest of its
   * files: a start with invalid files applies it, and a start whose files read the same
   * reuses it without parsing.
   */
  private async saveLastGood(digest: string | undefined): Promise<void> {
    if (digest === undefined || this.lastGoodSaved === digest) return;
    const path = join(this.opts.stateDir, LAST_GOOD);
    try {
      const sources = this.reader.sources;
      if (!sources) return;
      await writeFile(`${path}.tmp`, encodeSavedConfig(sources), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
      this.lastGoodSaved = digest;
    } catch (err) {
      this.log.warn({ err, path }, 'cannot save the last good config');
    }
  }

  /** The config saved by the last run that had a good one, if there is one that validates now. */
  private async readLastGood(): Promise<SavedConfig | undefined> {
    const path = join(this.opts.stateDir, LAST_GOOD);
    const r = await readSavedConfig(path);
    if (r.ok) return r.saved;
    if (r.reason !== 'none') this.log.error({ path, reason: r.reason }, 'the saved last good config is not used');
    return undefined;
  }

  /** At start, with invalid files: the config saved by the last run that had a good one. */
  private useLastGood(): void {
    const saved = this.savedAtStart;
    if (!saved) return; // nothing is applied, and status says so
    this.config = saved.config;
    this.fingerprint = configFingerprint(saved.config);
    this.configFromState = saved.savedAt;
    this.lastGoodSaved = saved.digest;
    this.log.warn({ path: join(this.opts.stateDir, LAST_GOOD), savedAt: saved.savedAt, errors: (this.configIssues ?? []).map(formatIssue) }, 'config invalid at start; using the last good config saved in the state directory');
  }

  private goal(): Goal | undefined {
    // Stopped means kept down: a teardown that failed halfway is completed by the retry.
    if (this.stopped) return { kind: 'teardown' };
    return this.config ? this.meshGoal(this.config) : undefined;
  }

  private meshGoal(config: Config): Goal {
    return { kind: 'mesh', config, node: this.opts.node, ...(config.mesh.encryption === 'wireguard' ? { wireguard: this.wireguardHost() } : {}) };
  }

  private wireguardHost(): WireguardHost {
    return {
      implementation: this.wgChoice?.implementation,
      problem: this.wgChoice?.problem ?? (this.wgChoice ? undefined : 'WireGuard not probed yet'),
      keyFile: this.wgKey?.path,
      publicKey: this.wgKey?.publicKey,
      keyProblem: this.wgKey?.problem ?? (this.wgKey ? undefined : 'key not read yet'),
    };
  }

  /**
   * Encrypted mode needs a WireGuard implementation and this server's key. Both are looked for
   * at the first sync that needs them, and again at each sync while missing, so installing
   * wireguard-go heals the mesh without a restart. The key is made once and kept.
   */
  private async prepareWireguard(rereadKey = true): Promise<void> {
    if (this.config?.mesh.encryption !== 'wireguard' || this.stopped) return;
    if (!this.wgChoice?.implementation) {
      const first = this.wgChoice === undefined;
      // A restart adopts the interface that is there: its kind says which WireGuard it is.
      this.wgChoice = (await existingWireguard(this.runner, this.config.mesh.wireguard.device)) ?? (await probeWireguard(this.runner));
      if (this.wgChoice.implementation) this.log.info({ implementation: this.wgChoice.implementation }, `WireGuard: ${this.wgChoice.implementation === 'kernel' ? 'kernel module' : 'userspace wireguard-go'}`);
      else if (first) this.log.error({ problem: this.wgChoice.problem }, 'no WireGuard: no encrypted link is made until one works');
    }
    if (!this.wgKey?.publicKey) {
      try {
        const k = await ensurePrivateKey(this.opts.stateDir);
        this.wgKey = { path: k.path, publicKey: k.publicKey, problem: undefined };
        // The public key only: the private key is never logged.
        this.log.info({ path: k.path, publicKey: k.publicKey, created: k.created, ...(k.fixedMode !== null ? { fixedMode: k.fixedMode.toString(8) } : {}) }, k.created ? 'WireGuard key made; publish its public key as this peer\'s public_key' : 'WireGuard key loaded');
      } catch (err) {
        const problem = err instanceof Error ? err.message : String(err);
        if (this.wgKey?.problem !== problem) this.log.error({ problem }, 'no WireGuard key: no encrypted link is made');
        this.wgKey = { path: join(this.opts.stateDir, 'wireguard.key'), publicKey: undefined, problem };
      }
      return;
    }
    // Read again when the config is (a save, reload, start), so a rotated key (docs/encryption.md)
    // is taken up with the peers file that publishes it, not by a resync before; a file that went
    // missing or bad is never replaced here, and the key in use stays in use.
    if (!rereadKey) return;
    try {
      const k = await readPublicKey(this.opts.stateDir);
      if (k.publicKey !== this.wgKey.publicKey) {
        this.log.info({ path: k.path, publicKey: k.publicKey, previous: this.wgKey.publicKey }, 'WireGuard key changed; publish its public key as this peer\'s public_key');
        this.wgKey = { path: k.path, publicKey: k.publicKey, problem: undefined };
      } else if (this.wgKey.problem) {
        this.wgKey = { ...this.wgKey, problem: undefined };
      }
    } catch (err) {
      const problem = err instanceof Error ? err.message : String(err);
      if (this.wgKey.problem !== problem) this.log.error({ problem }, 'cannot read the WireGuard key again; the key in use stays in use');
      this.wgKey = { ...this.wgKey, problem };
    }
  }

  /** One run of the queue: an operation, or a reconcile for the triggers that came in. */
  private async sync(batch: Batch): Promise<{ ok: boolean; result?: OperationResult }> {
    // The scheduler's deadline is on its clock; the runner's on performance.now().
    this.runRunner = withDeadline(this.runner, batch.deadline === undefined ? undefined : performance.now() + (batch.deadline - this.clock.now()));
    try {
      return await this.syncNow(batch);
    } finally {
      this.markFirstSync();
    }
  }

  private async syncNow({ triggers, operation }: Batch): Promise<{ ok: boolean; result?: OperationResult }> {
    await this.chooseEbtables();
    if (operation) {
      const result = await this.operate(operation);
      return { ok: result.ok, result };
    }
    // Kernel events alone do not re-read the files; everything else does.
    if (triggers.some((t) => t.kind !== 'kernel')) await this.loadConfig(!triggers.some((t) => t.kind === 'config' && t.cause === 'start'));
    await this.prepareWireguard(triggers.some((t) => t.kind === 'config'));
    const goal = this.goal();
    if (!goal) return { ok: true };
    const outcome = await this.reconcileWith(goal, triggers.map(describeTrigger).sort().join(','));
    if (this.stopped) return { ok: outcome.errors.length === 0 };
    if (isDriftOnly(triggers) && outcome.changes.length > 0) this.counters.driftRepairs++;
    // Ports held back for want of ebtables: retry with backoff, probing again each time, so
    // installing the package heals the mesh within seconds rather than at the next resync.
    const heldBack = !this.ebtables.backend && goal.kind === 'mesh' && goal.config.mesh.loopPrevention === 'ebtables';
    // EVPN with FRR down or restarting: retry with backoff, so its config is back within seconds of FRR.
    const frrWait = goal.kind === 'mesh' && goal.config.mesh.control === 'evpn' && outcome.blocked.some((b) => /^FRR/.test(b));
    return { ok: outcome.errors.length === 0 && !heldBack && !frrWait };
  }

  /** Reconcile, then log and count the outcome: the one place reconcile errors are logged. */
  private async reconcileWith(goal: Goal, trigger: string): Promise<ReconcileOutcome> {
    const nftEvents = this.nftEvents;
    const outcome = await reconcile(this.runRunner, goal, this.ebtables);
    this.counters.reconciles++;
    if (outcome.errors.length === 0) this.lastSuccessAt = this.clock.now();
    if (outcome.errors.length) this.counters.reconcileErrors++;
    this.counters.changesApplied += outcome.changes.length;
    if (outcome.observed) this.observed = { actual: outcome.observed, at: this.clock.now(), nftEvents };
    this.monitor?.watch(watchedInterfaces(outcome.desired, outcome.observed));
    for (const { err } of outcome.errors) this.log.error({ err, trigger, planned: outcome.planned }, 'reconcile step failed');
    for (const change of outcome.changes) this.log.info({ change }, 'applied');
    // The bridge's IPv6 sysctls (no RA, no SLAAC from containers): a failure shows in status.
    const bridges = outcome.desired ? (outcome.desired.segments.length ? outcome.desired.segments.map((g) => g.bridge.name) : [outcome.desired.bridge.name]) : [];
    const sysctl = goal.kind === 'mesh' ? (await Promise.all(bridges.map((b) => pinBridgeIpv6(b)))).flat() : [];
    const errors = [...outcome.errors.map((e) => e.message), ...sysctl];
    const report: ReconcileReport = { at: new Date().toISOString(), durationMs: outcome.durationMs, trigger, changes: outcome.changes, errors };
    if (outcome.changes.length || errors.length) this.log.info({ trigger, durationMs: outcome.durationMs, changes: outcome.changes.length, errors: errors.length }, 'reconciled');
    this.last = { report, outcome };
    // The prober follows every reconcile: the links it probes are the ones just made.
    await this.probe.configure(goal.kind === 'mesh' ? computeProbeSetup(goal.config, outcome.desired, outcome.observed !== undefined) : undefined, outcome.changes.length > 0);
    return outcome;
  }

  private result(operation: Operation, outcome: ReconcileOutcome | undefined, extraErrors: string[] = []): OperationResult {
    const errors = [...(outcome?.errors.map((e) => e.message) ?? []), ...extraErrors];
    const state = this.stopped ? 'stopped' : errors.length || outcome?.waiting || outcome?.blocked.length ? 'degraded' : 'running';
    return { ok: errors.length === 0, operation, state, changes: outcome?.changes ?? [], errors };
  }

  start(): Promise<OperationResult> {
    return this.submit('start');
  }

  stop(): Promise<OperationResult> {
    return this.submit('stop');
  }

  restart(): Promise<OperationResult> {
    return this.submit('restart');
  }

  reload(): Promise<OperationResult> {
    return this.submit('reload');
  }

  /** Operations join the same queue as every other trigger; the caller gets their result. */
  private async submit(operation: Operation): Promise<OperationResult> {
    const r = await this.scheduler.submit(operation);
    if (!r) throw new Error(`${operation} produced no result`);
    return r;
  }

  private async operate(operation: Operation): Promise<OperationResult> {
    switch (operation) {
      case 'start':
        return this.doStart('start');
      case 'stop':
        return this.doStop();
      case 'restart': {
        const down = await this.doStop();
        const up = await this.doStart('restart');
        return { ...up, changes: [...down.changes, ...up.changes], errors: [...down.errors, ...up.errors], ok: down.ok && up.ok };
      }
      case 'reload': {
        await this.loadConfig();
        await this.prepareWireguard();
        const goal = this.goal();
        const configErrors = this.configIssues ? this.configIssues.map(formatIssue) : [];
        const outcome = goal ? await this.reconcileWith(goal, 'op:reload') : undefined;
        return this.result('reload', outcome, configErrors);
      }
    }
  }

  private async doStart(operation: 'start' | 'restart'): Promise<OperationResult> {
    // The marker goes first: if it cannot be removed, the mesh would not come back at boot.
    await rm(join(this.opts.stateDir, STOPPED_MARKER), { force: true });
    this.stopped = false;
    await this.loadConfig();
    await this.prepareWireguard();
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

  /**
   * The status from the last observation of the kernel. A reconcile's read is used as it is;
   * counters are read again when it is over a second old (links, addresses and the nft table;
   * the chain only when it may have changed), and the report is rebuilt only when what it is
   * built from changed: most GETs cost a lookup.
   */
  async status(): Promise<StatusReport> {
    const now = this.clock.now();
    const stale = (at: number | undefined) => at === undefined || now - at > STATUS_MAX_AGE_MS;
    // A reconcile's read refreshes links and counters, not the learned MACs or joined groups.
    const mode = this.config?.mesh.mode;
    if (stale(this.observed?.at) || (mode === 'per-peer' && stale(this.macs?.at)) || (mode === 'multicast' && stale(this.joined?.at)) || (mode === 'evpn' && stale(this.evpn?.at))) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`still running after ${STATUS_WAIT_MS / 1000} s`), STATUS_WAIT_MS)));
      this.statusReadError = await Promise.race([
        this.refreshObservation().then(
          () => undefined,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        ),
        waited,
      ]).finally(() => clearTimeout(timer));
    }
    if (!this.observed) throw new Error(`cannot read the kernel: ${this.statusReadError ?? 'no read yet'}`);
    return this.withRunReasons(this.buildStatusCached());
  }

  /** A stuck or stale reconcile, and a failed status read, are reasons too (they change with time, so not cached). */
  private withRunReasons(report: StatusReport): StatusReport {
    const now = this.clock.now();
    const extra: string[] = [];
    const runningMs = this.scheduler.runningForMs();
    if (runningMs !== undefined && runningMs >= STATUS_WAIT_MS) {
      const stuck = (this.runner.inFlight?.() ?? []).sort((a, b) => b.ms - a.ms)[0];
      extra.push(`reconcile running for ${Math.round(runningMs / 1000)} s${stuck ? `, waiting on \`${stuck.command}\` (${Math.round(stuck.ms / 1000)} s)` : ''}; it is ended at ${RUN_DEADLINE_MS / 1000} s`);
    }
    if (this.statusReadError) extra.push(`kernel read for status failed (${this.statusReadError}); showing the read of ${Math.round((now - this.observed!.at) / 1000)} s ago`);
    // A healthy daemon succeeds at least once per resync.
    const staleMs = 2 * (this.opts.resyncMs ?? 30_000);
    const since = this.lastSuccessAt ?? this.startedAt;
    if (!this.stopped && now - since > staleMs) extra.push(this.lastSuccessAt === undefined ? `no successful reconcile since the daemon started ${Math.round((now - since) / 1000)} s ago` : `last successful reconcile ${Math.round((now - since) / 1000)} s ago`);
    if (extra.length === 0) return report;
    return { ...report, state: report.state === 'stopped' ? 'stopped' : 'degraded', reasons: [...report.reasons, ...extra] };
  }

  /**
   * One kernel read for status at a time. The chain is taken from the last
   * read while nothing can have changed it: the nf_tables backend is in use, nft monitor runs
   * and has reported no event since (a change to the chain is such an event, and it also runs
   * a reconcile). The legacy backend's changes are not nft events: there it is read again.
   */
  private refreshObservation(): Promise<void> {
    this.refreshing ??= (async () => {
      const at = this.clock.now();
      const nftEvents = this.nftEvents;
      const prev = this.observed;
      const unchanged = prev && prev.nftEvents === nftEvents && prev.actual.ebtables.available && this.ebtables.backend?.name === 'nft' && this.monitor?.isWatching('nft');
      const chain = unchanged ? prev.actual.ebtables : undefined;
      const cfg = this.config;
      const runner = withDeadline(this.runner, performance.now() + STATUS_READ_MS, 'status read');
      const [actual, macs, evpn] = await Promise.all([
        observe(runner, this.ebtables, chain, wireguardDeviceOf(cfg ? this.meshGoal(cfg) : undefined)),
        // With one device the MACs per remote come from its own fdb (read by observe): no bridge-wide dump.
        cfg?.mesh.mode === 'per-peer' ? learnedMacs(runner, cfg.mesh.bridge) : Promise.resolve(new Map<string, number>()),
        cfg?.mesh.control === 'evpn' ? readEvpn(runner, cfg.mesh.bgp?.frrPathspace) : Promise.resolve(undefined),
      ]);
      this.evpn = evpn ? { read: evpn, at } : undefined;
      const single = cfg ? planFor(this.meshGoal(cfg), actual).desired?.segments.find((g) => g.single.group)?.single : undefined;
      this.joined = { groups: single ? await multicastGroups(runner, single.underlay) : undefined, at };
      // A reconcile may have read the kernel meanwhile: the newer read wins.
      if (!this.observed || this.observed.at <= at) this.observed = { actual, at, nftEvents };
      this.macs = { counts: macs, at };
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private buildStatusCached(): StatusReport {
    // Link health changes with time: the report is rebuilt at least once a second.
    const inputs = [Math.floor(this.clock.now() / STATUS_MAX_AGE_MS), this.wgChoice, this.wgKey, this.observed?.actual, this.macs?.counts, this.joined, this.evpn, this.ebtables, this.config, this.configIssues, this.configFromState, this.pendingRemoval, this.stopped, this.last, this.counters.reconciles];
    const hit = this.statusCache;
    if (hit && hit.inputs.length === inputs.length && hit.inputs.every((v, i) => v === inputs[i])) return { ...hit.report, counters: { ...this.counters } };
    const report = this.buildStatusNow();
    this.statusCache = { inputs, report };
    return report;
  }

  private buildStatusNow(): StatusReport {
    const cfg = this.config;
    const actual = this.observed!.actual;
    // Status shows the config's mesh even while stopped (what start would bring back).
    const planned = cfg ? planFor(this.meshGoal(cfg), actual) : undefined;
    const self = planned?.self;
    return buildStatus({
      configDir: this.opts.configDir,
      config: cfg,
      configIssues: this.configIssues,
      configLoadedAt: this.configLoadedAt,
      configFromState: this.configFromState,
      pendingRemoval: this.pendingRemoval?.peers,
      stopped: this.stopped,
      leftAfterStop: this.stopped ? attachedOwnedPorts(actual) : [],
      self: self?.ok ? self.self : undefined,
      selfProblem: self && !self.ok ? self.reason : undefined,
      underlay: self?.ok ? self.underlay : undefined,
      movedFrom: self?.ok ? self.movedFrom : undefined,
      desired: planned?.desired,
      repairPending: planned?.plan !== undefined && !isEmptyPlan(planned.plan),
      actual,
      macs: this.macs?.counts ?? new Map(),
      joinedGroups: this.joined?.groups,
      last: this.last,
      counters: this.counters,
      ebtables: this.ebtables,
      health: this.probe.linkHealth(),
      probe: this.probe.report(),
      evpn: this.evpn?.read,
    });
  }
}

/** Names of the peers in `before` that `after` no longer has. */
function removedPeers(before: Config, after: Config): string[] {
  const kept = new Set(after.peers.map((p) => p.name));
  return before.peers.filter((p) => !kept.has(p.name)).map((p) => p.name);
}
