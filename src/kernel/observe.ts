import { CommandError, type CommandRunner } from './runner.js';
import { parseEbtablesSave, parseIpLinks, type ActualState, type EbtablesState, type LinkInfo } from './parse.js';
import { INGRESS_TABLE, parseIngress, type IngressState } from '../plan/ingress.js';

/** Read links, addresses, counters, the vxmesh ebtables chain and nft table: three processes in all. */
export async function observe(runner: CommandRunner): Promise<ActualState> {
  const [links, ebtables, ingress] = await Promise.all([
    runner.run('ip', ['-j', '-d', '-s', 'addr', 'show']).then(parseIpLinks),
    observeEbtables(runner),
    observeIngress(runner),
  ]);
  await readFloodLists(runner, links);
  return { links, ebtables, ingress };
}

/** Owned VXLAN devices with no fixed remote are shared legacy devices: read their flood lists. */
async function readFloodLists(runner: CommandRunner, links: Map<string, LinkInfo>): Promise<void> {
  const shared = [...links.values()].filter((l) => l.vxlan && l.vxlan.remote === undefined && l.alias?.startsWith('vxmesh:'));
  await Promise.all(
    shared.map(async (l) => {
      const entries = JSON.parse(await runner.run('bridge', ['-j', 'fdb', 'show', 'dev', l.name])) as { mac?: string; dst?: string }[];
      l.defaultDsts = entries.filter((e) => e.mac === '00:00:00:00:00:00' && e.dst).map((e) => e.dst!);
    }),
  );
}

async function observeIngress(runner: CommandRunner): Promise<IngressState> {
  const none = { present: false, peers4: [], peers6: [], rules: [], dropped: 0, droppedBytes: 0 };
  try {
    return { available: true, error: undefined, ...parseIngress(await runner.run('nft', ['-j', 'list', 'table', 'inet', INGRESS_TABLE])) };
  } catch (err) {
    // A missing table is the normal "not there yet"; anything else means nft does not work.
    if (err instanceof CommandError && /No such file or directory/.test(err.stderr)) return { available: true, error: undefined, ...none };
    return { available: false, error: err instanceof Error ? err.message : String(err), ...none };
  }
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
