/**
 * The ingress filter: vxmesh's own nftables table `inet vxmesh`, which lets the VXLAN UDP
 * port accept packets only from configured peer addresses. VXLAN has no authentication:
 * without it any host that reaches the port and guesses a VNI injects frames into the bridge.
 */
import { INGRESS_TABLE } from '../model/names.js';
import type { IngressDesired, IngressState } from '../model/state.js';

/**
 * The input chain's rules, as parse.ts reduces them. They match vxmesh's own VXLAN addresses as
 * destination: another VXLAN user of the same port on another local address (Docker swarm,
 * Calico, a hand-made VTEP) is left alone. Without local addresses: the whole port.
 */
export function expectedRules(port: number, local: string[] = []): string[] {
  if (local.length === 0) return [`${port} ip @peers4 accept`, `${port} ip6 @peers6 accept`, `${port} drop`];
  return local.flatMap((a) => {
    const fam = family(a);
    return [`${port} ${fam} daddr ${a} ${fam} @peers${fam === 'ip' ? 4 : 6} accept`, `${port} ${fam} daddr ${a} drop`];
  });
}

function family(address: string): 'ip' | 'ip6' {
  return address.includes(':') ? 'ip6' : 'ip';
}

export function ingressMatches(d: IngressDesired, a: IngressState): boolean {
  const rules = d.wireguard ? expectedEncryptedRules(d) : expectedRules(d.port, d.local);
  const output = d.wireguard ? expectedOutputRules(d) : [];
  return a.present && same(a.peers4, d.peers4) && same(a.peers6, d.peers6) && same(a.rules, rules) && same(a.outputRules ?? [], output);
}

/**
 * Encrypted mode, input: the WireGuard port only from peer addresses; the VXLAN port only
 * from tunnel addresses through the WireGuard interface. Clear VXLAN to this host's own
 * addresses (underlay and tunnel) is dropped and counted: a spoofed peer source no longer helps.
 */
export function expectedEncryptedRules(d: IngressDesired): string[] {
  const w = d.wireguard!;
  return [
    `${w.port} ip @peers4 accept`,
    `${w.port} ip6 @peers6 accept`,
    `${w.port} drop`,
    `${d.port} iifname ${w.device} ip ${w.range} accept`,
    ...[...(d.local ?? []), w.tunnel].map((a) => `${d.port} ${family(a)} daddr ${a} drop`),
  ];
}

/** Encrypted mode, output: no VXLAN packet to a peer leaves other than inside WireGuard. */
export function expectedOutputRules(d: IngressDesired): string[] {
  const w = d.wireguard!;
  return [`${d.port} ip daddr @peers4 drop`, `${d.port} ip6 daddr @peers6 drop`, `${d.port} ip daddr ${w.range} oifname != ${w.device} drop`];
}

function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, k) => x === b[k]);
}

/**
 * `nft -f` input that replaces the table in one transaction (the leading `table` line makes
 * the delete safe when it does not exist yet). The drop counter carries over its count.
 */
export function renderIngress(d: IngressDesired, carry: { packets: number; bytes: number; clearOut?: number; wgDropped?: number }): string {
  const set = (name: string, type: string, elems: string[]) =>
    `  set ${name} { type ${type};${elems.length ? ` elements = { ${elems.join(', ')} }` : ''} }`;
  return [
    `table inet ${INGRESS_TABLE}`,
    `delete table inet ${INGRESS_TABLE}`,
    `table inet ${INGRESS_TABLE} {`,
    set('peers4', 'ipv4_addr', d.peers4),
    set('peers6', 'ipv6_addr', d.peers6),
    `  counter dropped { packets ${carry.packets} bytes ${carry.bytes} }`,
    ...(d.wireguard ? [`  counter clear_out { packets ${carry.clearOut ?? 0} bytes 0 }`, `  counter wg_dropped { packets ${carry.wgDropped ?? 0} bytes 0 }`] : []),
    '  chain input {',
    '    type filter hook input priority filter - 10; policy accept;',
    ...(d.wireguard ? encryptedInputRules(d) : chainRules(d)),
    '  }',
    ...(d.wireguard
      ? ['  chain output {', '    type filter hook output priority filter - 10; policy accept;', ...encryptedOutputRules(d), '  }']
      : []),
    '}',
    '',
  ].join('\n');
}

export function renderIngressRemoval(): string {
  return `table inet ${INGRESS_TABLE}\ndelete table inet ${INGRESS_TABLE}\n`;
}

function encryptedInputRules(d: IngressDesired): string[] {
  const w = d.wireguard!;
  return [
    `    udp dport ${w.port} ip saddr @peers4 accept`,
    `    udp dport ${w.port} ip6 saddr @peers6 accept`,
    `    udp dport ${w.port} counter name wg_dropped drop`,
    `    udp dport ${d.port} iifname "${w.device}" ip saddr ${w.range} accept`,
    ...[...(d.local ?? []), w.tunnel].map((a) => `    udp dport ${d.port} ${family(a)} daddr ${a} counter name dropped drop`),
  ];
}

function encryptedOutputRules(d: IngressDesired): string[] {
  const w = d.wireguard!;
  return [
    `    udp dport ${d.port} ip daddr @peers4 counter name clear_out drop`,
    `    udp dport ${d.port} ip6 daddr @peers6 counter name clear_out drop`,
    `    udp dport ${d.port} ip daddr ${w.range} oifname != "${w.device}" counter name clear_out drop`,
  ];
}

function chainRules(d: IngressDesired): string[] {
  if (!d.local?.length) return [`    udp dport ${d.port} ip saddr @peers4 accept`, `    udp dport ${d.port} ip6 saddr @peers6 accept`, `    udp dport ${d.port} counter name dropped drop`];
  return d.local.flatMap((a) => {
    const fam = family(a);
    return [`    udp dport ${d.port} ${fam} daddr ${a} ${fam} saddr @peers${fam === 'ip' ? 4 : 6} accept`, `    udp dport ${d.port} ${fam} daddr ${a} counter name dropped drop`];
  });
}
