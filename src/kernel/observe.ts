import { CommandError, type CommandRunner } from './runner.js';
import { parseEbtablesSave, parseIpLinks, type ActualState, type EbtablesState } from './state.js';

/** Read links, addresses, counters and the vxmesh ebtables chain: two processes in all. */
export async function observe(runner: CommandRunner): Promise<ActualState> {
  const [links, ebtables] = await Promise.all([
    runner.run('ip', ['-j', '-d', '-s', 'addr', 'show']).then(parseIpLinks),
    observeEbtables(runner),
  ]);
  return { links, ebtables };
}

async function observeEbtables(runner: CommandRunner): Promise<EbtablesState> {
  try {
    const text = await runner.run('ebtables-save', ['-t', 'filter']);
    return { available: true, error: undefined, ...parseEbtablesSave(text) };
  } catch (err) {
    const error = err instanceof CommandError ? err.message : String(err);
    return { available: false, error, chainExists: false, chain: [], jumps: 0 };
  }
}

/** Count learned (non-permanent) MACs per bridge port, for status. */
export async function learnedMacs(runner: CommandRunner, bridge: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let entries: { ifname?: string; flags?: string[]; state?: string }[];
  try {
    entries = JSON.parse(await runner.run('bridge', ['-j', 'fdb', 'show', 'br', bridge])) as typeof entries;
  } catch {
    return counts;
  }
  for (const e of entries) {
    if (!e.ifname || e.state === 'permanent' || e.flags?.includes('self')) continue;
    counts.set(e.ifname, (counts.get(e.ifname) ?? 0) + 1);
  }
  return counts;
}
