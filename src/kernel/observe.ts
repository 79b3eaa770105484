import { CommandError, type Runner } from './runner.js';
import { parseEbtablesSave, parseFloodList, parseIngress, parseIpLinks, parseLearnedMacs } from './parse.js';
import { INGRESS_TABLE } from '../model/names.js';
import { isOwnedDevice, type ActualState, type EbtablesState, type IngressState, type LinkInfo } from '../model/state.js';

/**
 * Read links, addresses, counters, the vxmesh ebtables chain and nft table: three processes in
 * all. `reuse.ebtables` skips the chain read (O(peers^2) rules) when the caller knows it has
 * not changed since that read (no nft event came): status refreshes counters that way.
 */
export async function observe(runner: Runner, reuse: { ebtables?: EbtablesState } = {}): Promise<ActualState> {
  const [links, ebtables, ingress] = await Promise.all([
    runner.run('ip', ['-j', '-d', '-s', 'addr', 'show']).then(parseIpLinks),
    reuse.ebtables ?? observeEbtables(runner),
    observeIngress(runner),
  ]);
  await readFloodLists(runner, links);
  return { links, ebtables, ingress };
}

/** Owned VXLAN devices with no fixed remote are shared legacy devices: read their flood lists. */
async function readFloodLists(runner: Runner, links: Map<string, LinkInfo>): Promise<void> {
  const shared = [...links.values()].filter((l) => l.vxlan && l.vxlan.remote === undefined && isOwnedDevice(l));
  await Promise.all(
    shared.map(async (l) => {
      l.defaultDsts = parseFloodList(await runner.run('bridge', ['-j', 'fdb', 'show', 'dev', l.name]));
    }),
  );
}

async function observeIngress(runner: Runner): Promise<IngressState> {
  const none = { present: false, peers4: [], peers6: [], rules: [], dropped: 0, droppedBytes: 0 };
  try {
    return { available: true, error: undefined, ...parseIngress(await runner.run('nft', ['-j', 'list', 'table', 'inet', INGRESS_TABLE])) };
  } catch (err) {
    // A missing table is the normal "not there yet"; anything else means nft does not work.
    if (err instanceof CommandError && /No such file or directory/.test(err.stderr)) return { available: true, error: undefined, ...none };
    return { available: false, error: err instanceof Error ? err.message : String(err), ...none };
  }
}

async function observeEbtables(runner: Runner): Promise<EbtablesState> {
  try {
    const text = await runner.run('ebtables-save', ['-t', 'filter']);
    return { available: true, error: undefined, ...parseEbtablesSave(text) };
  } catch (err) {
    const error = err instanceof CommandError ? err.message : String(err);
    return { available: false, error, chainExists: false, chain: [], jumps: 0 };
  }
}

/** Count learned (non-permanent) MACs per bridge port, for status. */
export async function learnedMacs(runner: Runner, bridge: string): Promise<Map<string, number>> {
  try {
    return parseLearnedMacs(await runner.run('bridge', ['-j', 'fdb', 'show', 'br', bridge]));
  } catch {
    return new Map();
  }
}
