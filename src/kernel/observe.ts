import { CommandError, type Runner } from './runner.js';
import { parseDeviceFdb, parseEbtablesSave, parseIngress, parseIpLinks, parseLearnedMacs, parseMaddr, parseWgDump } from './parse.js';
import { readIpv6State } from './ipv6.js';
import { INGRESS_TABLE } from '../model/names.js';
import { isOwnedDevice, type ActualState, type EbtablesState, type IngressState, type LinkInfo } from '../model/state.js';
import type { EbtablesChoice } from './ebtables-backend.js';

/**
 * Read links, addresses, counters, the vxmesh ebtables chain (with the backend's save command)
 * and nft table: three processes in all. `cachedEbtables`: a chain read known to be current
 * (nothing changed the bridge filter table since), which saves one process (on a host with a
 * busy bridge filter table, the costliest read).
 */
export async function observe(runner: Runner, ebtables: EbtablesChoice, cachedEbtables?: EbtablesState, wireguardDevice?: string): Promise<ActualState> {
  const [links, eb, ingress] = await Promise.all([
    runner.run('ip', ['-j', '-d', '-s', 'addr', 'show']).then(parseIpLinks),
    cachedEbtables ?? observeEbtables(runner, ebtables),
    observeIngress(runner),
  ]);
  const [wg] = await Promise.all([observeWireguard(runner, links, wireguardDevice), readFloodLists(runner, links)]);
  const ipv6 = await readIpv6State([...links.values()].filter((l) => l.kind === 'bridge').map((l) => l.name));
  return { links, ebtables: eb, ingress, ipv6, ...wg };
}

/** The WireGuard interface's settings and peers, when it exists (its private key is never kept). */
async function observeWireguard(runner: Runner, links: Map<string, LinkInfo>, device: string | undefined): Promise<Pick<ActualState, 'wireguard' | 'wireguardError'>> {
  if (!device || !links.has(device)) return {};
  try {
    return { wireguard: parseWgDump(device, await runner.run('wg', ['show', device, 'dump'])) };
  } catch (err) {
    // The error text may quote the dump; keep only the first line of what wg said.
    return { wireguardError: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 200) };
  }
}

/**
 * Owned VXLAN devices with no fixed remote (a shared legacy device, the flood-list or multicast
 * device): read their flood lists and how many MACs each remote has taught them.
 */
async function readFloodLists(runner: Runner, links: Map<string, LinkInfo>): Promise<void> {
  const shared = [...links.values()].filter((l) => l.vxlan && l.vxlan.remote === undefined && isOwnedDevice(l));
  await Promise.all(
    shared.map(async (l) => Object.assign(l, parseDeviceFdb(await runner.run('bridge', ['-j', 'fdb', 'show', 'dev', l.name])))),
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

async function observeEbtables(runner: Runner, choice: EbtablesChoice): Promise<EbtablesState> {
  if (!choice.backend) return { available: false, error: choice.problem, chainExists: false, chain: [], jumps: 0 };
  try {
    const text = await runner.run(choice.backend.save, ['-t', 'filter']);
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

/** The multicast groups joined on `dev` (undefined when `ip maddr` cannot be read). */
export async function multicastGroups(runner: Runner, dev: string): Promise<string[] | undefined> {
  try {
    return parseMaddr(await runner.run('ip', ['-j', 'maddr', 'show', 'dev', dev]));
  } catch {
    return undefined;
  }
}
