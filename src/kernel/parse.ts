import { CHAIN, INGRESS_TABLE, JUMP_RULE, ZERO_MAC } from '../model/names.js';
import { compareAddr, type EbtablesState, type IngressState, type LinkInfo } from '../model/state.js';
import type { WgPeerState, WireguardState } from '../model/wireguard.js';

/** Parsers of kernel tool output: `ip -j -d -s addr`, `bridge -j fdb`, `ebtables-save`, `nft -j`. Pure. */

interface IpJsonLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  mtu?: number;
  master?: string;
  ifalias?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
  addr_info?: { local?: string; prefixlen?: number }[];
  stats64?: { rx?: { bytes?: number; packets?: number }; tx?: { bytes?: number; packets?: number } };
}

export function parseIpLinks(json: string): Map<string, LinkInfo> {
  const out = new Map<string, LinkInfo>();
  for (const l of JSON.parse(json) as IpJsonLink[]) {
    const data = l.linkinfo?.info_data;
    const kind = l.linkinfo?.info_kind;
    const slave = l.linkinfo?.info_slave_kind === 'bridge' ? l.linkinfo.info_slave_data : undefined;
    out.set(l.ifname, {
      name: l.ifname,
      ifindex: l.ifindex,
      kind,
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu ?? 0,
      master: l.master,
      alias: l.ifalias,
      vxlan:
        kind === 'vxlan' && data
          ? {
              vni: Number(data.id),
              remote: str(data.remote ?? data.remote6),
              local: str(data.local ?? data.local6),
              link: str(data.link),
              port: Number(data.port),
              learning: data.learning === true,
              group: str(data.group ?? data.group6),
              ttl: typeof data.ttl === 'number' ? data.ttl : 0,
            }
          : undefined,
      isolated: slave ? slave.isolated === true : undefined,
      portLearning: slave ? slave.learning === true : undefined,
      neighSuppress: slave ? slave.neigh_suppress === true : undefined,
      addresses: (l.addr_info ?? []).map((a) => a.local).filter((a): a is string => typeof a === 'string'),
      prefixLens: new Map((l.addr_info ?? []).flatMap((a) => (typeof a.local === 'string' && typeof a.prefixlen === 'number' ? [[a.local, a.prefixlen] as const] : []))),
      stats: {
        rxBytes: l.stats64?.rx?.bytes ?? 0,
        txBytes: l.stats64?.tx?.bytes ?? 0,
        rxPackets: l.stats64?.rx?.packets ?? 0,
        txPackets: l.stats64?.tx?.packets ?? 0,
      },
    });
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Parse `ebtables-save` output: each chain declared or appended to, with its rules (without "-A CHAIN "). */
export function parseEbtablesChains(text: string): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const declared = /^:(\S+) /.exec(line);
    if (declared) chains.set(declared[1]!, chains.get(declared[1]!) ?? []);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule) chains.set(rule[1]!, [...(chains.get(rule[1]!) ?? []), normalizeNegation(rule[2]!.trim())]);
  }
  return chains;
}

/**
 * ebtables-nft up to 1.8.9 (Debian 12) prints a negated interface as `-o ! vxlan+`, 1.8.10 and
 * later (Debian 13) as `! -o vxlan+`: read both as the first, the form vxmesh writes and compares.
 */
function normalizeNegation(rule: string): string {
  return rule.replace(/(^|\s)! (-[io]|--(?:in|out)-interface) (\S+)/g, '$1$2 ! $3');
}

/** Parse `ebtables-save -t filter` for our chain, our jump, and what stands before the jump. */
export function parseEbtablesSave(text: string): Pick<EbtablesState, 'chainExists' | 'chain' | 'jumps' | 'jumpShadowedBy'> {
  const chains = parseEbtablesChains(text);
  const chain = chains.get(CHAIN);
  const forward = chains.get('FORWARD') ?? [];
  return { chainExists: chain !== undefined, chain: chain ?? [], jumps: forward.filter((r) => r === JUMP_RULE).length, jumpShadowedBy: ruleBeforeJump(forward) };
}

/**
 * The first FORWARD rule before our jump that could let a frame through without it: any rule
 * whose target is not DROP or CONTINUE (an ACCEPT, a jump to another chain, a mark with
 * ACCEPT...). Rules that only drop more are harmless, so another tool's DROP rules may stand first.
 */
function ruleBeforeJump(forward: string[]): string | undefined {
  const at = forward.indexOf(JUMP_RULE);
  if (at < 0) return undefined;
  return forward.slice(0, at).find((r) => !/ -j (DROP|CONTINUE)$/.test(` ${r}`));
}

/** Parse `bridge -j fdb show br BRIDGE`: learned (non-permanent) MACs per bridge port. */
export function parseLearnedMacs(json: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of JSON.parse(json) as { ifname?: string; flags?: string[]; state?: string }[]) {
    if (!e.ifname || e.state === 'permanent' || e.flags?.includes('self')) continue;
    counts.set(e.ifname, (counts.get(e.ifname) ?? 0) + 1);
  }
  return counts;
}

interface NftJson {
  nftables: Record<string, any>[];
}

/** Parse `nft -j list table inet vxmesh`. */
export function parseIngress(json: string): Omit<IngressState, 'available' | 'error'> {
  const items = (JSON.parse(json) as NftJson).nftables;
  const out = { present: false, peers4: [] as string[], peers6: [] as string[], rules: [] as string[], dropped: 0, droppedBytes: 0, outputRules: [] as string[], clearOut: 0, wgDropped: 0 };
  for (const item of items) {
    if (item.table?.name === INGRESS_TABLE) out.present = true;
    if (item.set?.name === 'peers4') out.peers4 = elems(item.set.elem);
    if (item.set?.name === 'peers6') out.peers6 = elems(item.set.elem);
    if (item.counter?.name === 'dropped') {
      out.dropped = Number(item.counter.packets ?? 0);
      out.droppedBytes = Number(item.counter.bytes ?? 0);
    }
    if (item.counter?.name === 'clear_out') out.clearOut = Number(item.counter.packets ?? 0);
    if (item.counter?.name === 'wg_dropped') out.wgDropped = Number(item.counter.packets ?? 0);
    if (item.rule?.chain === 'input') out.rules.push(ruleSignature(item.rule.expr as Record<string, any>[]));
    if (item.rule?.chain === 'output') out.outputRules.push(ruleSignature(item.rule.expr as Record<string, any>[]));
  }
  return out;
}

function elems(e: unknown): string[] {
  return Array.isArray(e) ? e.filter((x): x is string => typeof x === 'string').sort(compareAddr) : [];
}

/** A match's right side: an address or set name as is, a prefix as a/len, anything else as JSON. */
function operand(right: unknown): string {
  if (typeof right === 'string') return right;
  const p = (right as { prefix?: { addr?: unknown; len?: unknown } } | undefined)?.prefix;
  if (p && typeof p.addr === 'string' && typeof p.len === 'number') return `${p.addr}/${p.len}`;
  return JSON.stringify(right);
}

function ruleSignature(expr: Record<string, any>[]): string {
  const parts: string[] = [];
  for (const e of expr ?? []) {
    const m = e.match;
    if (m?.left?.payload?.field === 'dport') parts.push(String(m.right));
    else if (m?.left?.payload?.field === 'saddr') parts.push(`${m.left.payload.protocol} ${operand(m.right)}`);
    else if (m?.left?.payload?.field === 'daddr') parts.push(`${m.left.payload.protocol} daddr ${operand(m.right)}`);
    else if (m?.left?.meta?.key === 'iifname' || m?.left?.meta?.key === 'oifname') parts.push(`${m.left.meta.key}${m.op === '!=' ? ' !=' : ''} ${String(m.right)}`);
    else if ('accept' in e) parts.push('accept');
    else if ('drop' in e) parts.push('drop');
  }
  return parts.join(' ');
}

interface FdbJsonEntry {
  mac?: string;
  dst?: string;
  viaIf?: string;
  state?: string;
}

/**
 * Parse `bridge -j fdb show dev <vxlan>`: its flood list (all-zero entries) and learned MACs per
 * remote. The all-zero entries vxmesh writes carry `via <underlay>`: that is how they are told
 * from hand-written ones (`bridge fdb append ... dst X` without `via`), which it never touches.
 */
export function parseDeviceFdb(json: string): Required<Pick<LinkInfo, 'defaultDsts' | 'ownDefaultDsts' | 'learnedByDst'>> {
  const out = { defaultDsts: [] as string[], ownDefaultDsts: [] as string[], learnedByDst: new Map<string, number>() };
  for (const e of JSON.parse(json) as FdbJsonEntry[]) {
    if (!e.dst) continue;
    if (e.mac === ZERO_MAC) {
      out.defaultDsts.push(e.dst);
      if (e.viaIf !== undefined) out.ownDefaultDsts.push(e.dst);
    } else if (e.state !== 'permanent' && e.state !== 'static') {
      out.learnedByDst.set(e.dst, (out.learnedByDst.get(e.dst) ?? 0) + 1);
    }
  }
  return out;
}

/** Parse `ip -j maddr show dev <dev>`: the multicast groups the device has joined. */
export function parseMaddr(json: string): string[] {
  const out: string[] = [];
  for (const dev of JSON.parse(json) as { maddr?: { family?: string; address?: string }[] }[]) {
    for (const m of dev.maddr ?? []) if (m.address && (m.family === 'inet' || m.family === 'inet6')) out.push(m.address);
  }
  return out;
}

/**
 * Parse `wg show <dev> dump`. The first line is the interface: private key, public key, listen
 * port, fwmark; the private key is dropped here and never kept. Then one line per peer: public
 * key, preshared key, endpoint, allowed-ips, latest handshake, rx, tx, keepalive.
 */
export function parseWgDump(device: string, text: string): WireguardState {
  const [first, ...rest] = text.split('\n').filter((l) => l.trim() !== '');
  const f = (first ?? '').split('\t');
  const peers = new Map<string, WgPeerState>();
  for (const line of rest) {
    const p = line.split('\t');
    if (p.length < 8 || !p[0]) continue;
    peers.set(p[0], {
      publicKey: p[0],
      endpoint: p[2] === '(none)' ? undefined : p[2],
      allowedIps: p[3] === '(none)' || !p[3] ? [] : p[3].split(','),
      latestHandshake: Number(p[4]) || 0,
      rxBytes: Number(p[5]) || 0,
      txBytes: Number(p[6]) || 0,
    });
  }
  return { device, publicKey: f[1] && f[1] !== '(none)' ? f[1] : undefined, listenPort: Number(f[2]) || 0, peers };
}
