/**
 * The ingress filter: vxmesh's own nftables table `inet vxmesh`, which lets the VXLAN UDP
 * port accept packets only from configured peer addresses. VXLAN has no authentication:
 * without it any host that reaches the port and guesses a VNI injects frames into the bridge.
 */
import { INGRESS_TABLE } from '../model/names.js';
import type { IngressDesired, IngressState } from '../model/state.js';

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
