/** Why a sync runs. Every trigger goes through the one scheduler queue. */

export type Operation = 'start' | 'stop' | 'restart' | 'reload';

/** Which monitor saw it: `ip monitor`, `nft monitor` or `bridge monitor fdb`. */
export type KernelSource = 'ip' | 'nft' | 'bridge';

export type Trigger =
  /** The daemon started, a config file was saved, or the re-read shortly after a save. */
  | { kind: 'config'; cause: 'start' | 'saved' | 'recheck' }
  /** A kernel monitor saw a change to links, addresses, the tables vxmesh owns or a flood list. */
  | { kind: 'kernel'; source: KernelSource }
  /** The periodic full resync. */
  | { kind: 'resync' }
  /** The run after a failed one, after a backoff. */
  | { kind: 'retry' }
  /** An operator's start/stop/restart/reload (API or SIGHUP); its caller awaits the result. */
  | { kind: 'operation'; operation: Operation };

/** A trigger as one word, for logs and the reconcile report. */
export function describeTrigger(t: Trigger): string {
  switch (t.kind) {
    case 'config':
      return t.cause === 'saved' ? 'config' : t.cause;
    case 'kernel':
      return `kernel:${t.source}`;
    case 'operation':
      return `op:${t.operation}`;
    default:
      return t.kind;
  }
}

/**
 * A run that repairs drift: only kernel events and the periodic resync asked for it. Config
 * changes, operations and retries after a failure are not drift.
 */
export function isDriftOnly(triggers: readonly Trigger[]): boolean {
  return triggers.length > 0 && triggers.every((t) => t.kind === 'kernel' || t.kind === 'resync');
}
