import type { ActualState, LinkInfo } from '../../src/model/state.js';
import type { Plan } from '../../src/plan/plan.js';

/** A link as observe() reads it, with `extra` over plain defaults. */
export function link(name: string, extra: Partial<LinkInfo> = {}): LinkInfo {
  return { name, ifindex: 10, kind: undefined, up: true, mtu: 1500, master: undefined, alias: undefined, vxlan: undefined, isolated: undefined, addresses: [], stats: { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 }, ...extra };
}

/** A host with only its underlay eth0 (198.18.0.1): no bridge, no chain, no ingress table. */
export function emptyHost(): ActualState {
  return {
    links: new Map([['eth0', link('eth0', { addresses: ['198.18.0.1'] })]]),
    ebtables: { available: true, error: undefined, chainExists: false, chain: [], jumps: 0 },
    ingress: { available: true, error: undefined, present: false, peers4: [], peers6: [], rules: [], dropped: 0, droppedBytes: 0 },
  };
}

/**
 * The plan's steps read back per phase (lines of each batch, chain rules, ebtables argv), so
 * the assertions can name what each phase holds.
 */
export function phases(plan: Plan) {
  const of = (phase: string, tool: string) => plan.steps.filter((s) => s.phase === phase && s.tool === tool);
  const lines = (phase: string, tool: string) => of(phase, tool).flatMap((s) => s.input!.trimEnd().split('\n'));
  const restores = of('loop', 'ebtables-restore').map((s) => s.input!);
  const rules = (text: string) => text.split('\n').filter((l) => l.startsWith('-A VXMESH ')).map((l) => l.slice('-A VXMESH '.length));
  const rewrite = restores.find((t) => t.includes('\n:VXMESH RETURN\n'));
  return {
    ...plan,
    nft: of('ingress', 'nft')[0]?.input,
    pre: lines('links', 'ip'),
    fdb: lines('flood', 'bridge'),
    // A rewrite as the devices whose port rules it holds.
    chain: rewrite === undefined ? undefined : [...new Set(rules(rewrite).flatMap((r) => /^-i (\S+) -o vxlan\+ -j DROP$/.exec(r)?.slice(1) ?? []))],
    chainAppend: restores.filter((t) => t !== rewrite).flatMap(rules),
    ebtables: of('loop', 'ebtables').map((s) => s.args),
    post: lines('ports', 'ip'),
  };
}
