import { spawnSync } from 'node:child_process';
import { LAB_EBTABLES as EB } from '../harness/netns-lab.js';

/**
 * The baseline: what vxlansetup.sh does, one process per command, written here so the
 * benchmark does not depend on a copy of the script. `brctl` is not installed on the
 * bench machine, so `brctl addbr`/`addif` are their `ip link` equivalents (one process
 * each, as before). VNI = index of the remote in the list; learning stays on (the script
 * does not turn it off); the pairwise DROP rules are appended flat to FORWARD.
 *
 * Runs inside the server's namespace (bench.js `__baseline` is started with
 * `ip netns exec`), so the time is the script's own: no namespace entry per command.
 */
export interface BaselineSpec {
  action: 'start' | 'stop';
  local: string;
  dev: string;
  remotes: string[];
  bridge?: string;
  /**
   * each: one `ebtables -A FORWARD` process per pair, as the script does (timed figure);
   * restore: the same flat FORWARD list in one ebtables-restore (only to set up the data-path
   * figure quickly: the kernel ends up with identical rules); none: no loop prevention.
   */
  rules: 'each' | 'restore' | 'none';
}

export interface BaselineResult {
  ms: number;
  processes: number;
}

export function baselineDevice(index: number): string {
  return `vxlan${index}`;
}

/** The command lines the script runs, in its order. */
export function baselineCommands(spec: BaselineSpec): string[][] {
  const br = spec.bridge ?? 'vxbr0';
  const n = spec.remotes.length;
  const cmds: string[][] = [];
  if (spec.action === 'start') {
    cmds.push(['ip', 'link', 'add', br, 'type', 'bridge']);
    spec.remotes.forEach((ip, id) => {
      const dev = baselineDevice(id);
      cmds.push(['ip', 'link', 'add', dev, 'type', 'vxlan', 'id', String(id), 'remote', ip, 'local', spec.local, 'dev', spec.dev, 'dstport', '4789']);
      cmds.push(['ip', 'link', 'set', dev, 'up']);
      cmds.push(['ip', 'link', 'set', dev, 'master', br]); // brctl addif
    });
    if (spec.rules === 'each') {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) cmds.push([EB.ebtables, '-A', 'FORWARD', '-i', baselineDevice(i), '-o', baselineDevice(j), '-j', 'DROP']);
    }
    cmds.push(['ip', 'link', 'set', br, 'up']);
  } else {
    cmds.push([EB.ebtables, '-F', 'FORWARD']);
    for (let i = 0; i < n; i++) cmds.push(['ip', 'link', 'del', baselineDevice(i)]);
    cmds.push(['ip', 'link', 'set', br, 'down']);
    cmds.push(['ip', 'link', 'del', br]); // brctl delbr
  }
  return cmds;
}

export function flatRulesRestore(n: number): string {
  const lines = ['*filter'];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) lines.push(`-A FORWARD -i ${baselineDevice(i)} -o ${baselineDevice(j)} -j DROP`);
  return lines.join('\n') + '\n';
}

/** Run the script's commands in this process's namespace, one process each, in order. */
export function runBaseline(spec: BaselineSpec): BaselineResult {
  const cmds = baselineCommands(spec);
  const t0 = performance.now();
  let processes = 0;
  for (const [file, ...args] of cmds) {
    const r = spawnSync(file!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    processes++;
    if (r.status !== 0) throw new Error(`baseline: ${[file, ...args].join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString().trim()}`);
  }
  if (spec.action === 'start' && spec.rules === 'restore') {
    const r = spawnSync(EB.restore, ['--noflush'], { input: flatRulesRestore(spec.remotes.length), stdio: ['pipe', 'ignore', 'pipe'] });
    processes++;
    if (r.status !== 0) throw new Error(`baseline: ebtables-restore failed: ${r.stderr?.toString().trim()}`);
  }
  return { ms: performance.now() - t0, processes };
}
