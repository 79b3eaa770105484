/**
 * The ingress filter: vxmesh's own nftables table `inet vxmesh`, which lets the VXLAN UDP
 * port accept packets only from configured peer addresses. VXLAN has no authentication:
 * without it any host that reaches the port and guesses a VNI injects frames into the bridge.
 */

export const INGRESS_TABLE = 'vxmesh';

export interface IngressDesired {
  port: number;
  peers4: string[];
  peers6: string[];
}

export interface IngressState {
  /** False when nft cannot be run. */
  available: boolean;
  error: string | undefined;
  present: boolean;
  peers4: string[];
  peers6: string[];
  /** Each rule of the input chain reduced to "port saddr-set verdict", to detect tampering. */
  rules: string[];
  dropped: number;
  droppedBytes: number;
}

export function expectedRules(port: number): string[] {
  return [`${port} ip @peers4 accept`, `${port} ip6 @peers6 accept`, `${port} drop`];
}

export function ingressMatches(d: IngressDesired, a: IngressState): boolean {
  return a.present && same(a.peers4, d.peers4) && same(a.peers6, d.peers6) && same(a.rules, expectedRules(d.port));
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

/**
 * `nft -f` input that replaces the table in one transaction (the leading `table` line makes
 * the delete safe when it does not exist yet). The drop counter carries over its count.
 */
export function renderIngress(d: IngressDesired, carry: { packets: number; bytes: number }): string {
  const set = (name: string, type: string, elems: string[]) =>
    `  set ${name} { type ${type};${elems.length ? ` elements = { ${elems.join(', ')} }` : ''} }`;
  return [
    `table inet ${INGRESS_TABLE}`,
    `delete table inet ${INGRESS_TABLE}`,
    `table inet ${INGRESS_TABLE} {`,
    set('peers4', 'ipv4_addr', d.peers4),
    set('peers6', 'ipv6_addr', d.peers6),
    `  counter dropped { packets ${carry.packets} bytes ${carry.bytes} }`,
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    `    udp dport ${d.port} ip saddr @peers4 accept`,
    `    udp dport ${d.port} ip6 saddr @peers6 accept`,
    `    udp dport ${d.port} counter name dropped drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export function renderIngressRemoval(): string {
  return `table inet ${INGRESS_TABLE}\ndelete table inet ${INGRESS_TABLE}\n`;
}

interface NftJson {
  nftables: Record<string, any>[];
}

/** Parse `nft -j list table inet vxmesh`. */
export function parseIngress(json: string): Omit<IngressState, 'available' | 'error'> {
  const items = (JSON.parse(json) as NftJson).nftables;
  const out = { present: false, peers4: [] as string[], peers6: [] as string[], rules: [] as string[], dropped: 0, droppedBytes: 0 };
  for (const item of items) {
    if (item.table?.name === INGRESS_TABLE) out.present = true;
    if (item.set?.name === 'peers4') out.peers4 = elems(item.set.elem);
    if (item.set?.name === 'peers6') out.peers6 = elems(item.set.elem);
    if (item.counter?.name === 'dropped') {
      out.dropped = Number(item.counter.packets ?? 0);
      out.droppedBytes = Number(item.counter.bytes ?? 0);
    }
    if (item.rule?.chain === 'input') out.rules.push(ruleSignature(item.rule.expr as Record<string, any>[]));
  }
  return out;
}

function elems(e: unknown): string[] {
  return Array.isArray(e) ? e.filter((x): x is string => typeof x === 'string').sort(compareAddr) : [];
}

function ruleSignature(expr: Record<string, any>[]): string {
  const parts: string[] = [];
  for (const e of expr ?? []) {
    const m = e.match;
    if (m?.left?.payload?.field === 'dport') parts.push(String(m.right));
    else if (m?.left?.payload?.field === 'saddr') parts.push(`${m.left.payload.protocol} ${m.right}`);
    else if ('accept' in e) parts.push('accept');
    else if ('drop' in e) parts.push('drop');
  }
  return parts.join(' ');
}

/** Set elements in a stable order, so desired and actual compare as lists. */
export function compareAddr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
