import type { IngressState } from '../plan/ingress.js';

/** What the kernel has now, parsed from `ip -j -d -s addr show` and `ebtables-save`. */

export interface VxlanInfo {
  vni: number;
  remote: string | undefined;
  local: string | undefined;
  link: string | undefined;
  port: number;
  learning: boolean;
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  kind: string | undefined;
  up: boolean;
  mtu: number;
  master: string | undefined;
  alias: string | undefined;
  vxlan: VxlanInfo | undefined;
  /** Default FDB destinations (flood list) of a VXLAN device without a fixed remote. */
  defaultDsts?: string[];
  /** Bridge-port isolation, when the link is a bridge port. */
  isolated: boolean | undefined;
  addresses: string[];
  stats: { rxBytes: number; txBytes: number; rxPackets: number; txPackets: number };
}

export interface EbtablesState {
  /** False when ebtables cannot be run (missing binary, no kernel support). */
  available: boolean;
  error: string | undefined;
  chainExists: boolean;
  /** Rules of the vxmesh chain as ebtables-save prints them, without "-A CHAIN ". */
  chain: string[];
  /** How many times FORWARD jumps to the vxmesh chain with our gate rule. */
  jumps: number;
}

export interface ActualState {
  links: Map<string, LinkInfo>;
  ebtables: EbtablesState;
  ingress: IngressState;
}

export const CHAIN = 'VXMESH';
export const JUMP_RULE = '-i vxlan+ -j VXMESH';
/** First rule of the chain: anything not leaving through a VXLAN port is none of our business. */
export const GATE_RULE = '-o ! vxlan+ -j RETURN';

export function dropRule(from: string, to: string): string {
  return `-i ${from} -o ${to} -j DROP`;
}

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
  addr_info?: { local?: string }[];
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
            }
          : undefined,
      isolated: slave ? slave.isolated === true : undefined,
      addresses: (l.addr_info ?? []).map((a) => a.local).filter((a): a is string => typeof a === 'string'),
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

/** Parse `ebtables-save -t filter` for our chain and our jump. */
export function parseEbtablesSave(text: string): Pick<EbtablesState, 'chainExists' | 'chain' | 'jumps'> {
  let chainExists = false;
  let jumps = 0;
  const chain: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(`:${CHAIN} `)) chainExists = true;
    else if (line.startsWith(`-A ${CHAIN} `)) chain.push(line.slice(CHAIN.length + 4).trim());
    else if (line.trim() === `-A FORWARD ${JUMP_RULE}`) jumps++;
  }
  return { chainExists, chain, jumps };
}

/** The underlay the owned VXLAN devices use now: where the mesh was before an address change. */
export function currentUnderlay(links: Map<string, LinkInfo>): string | undefined {
  for (const l of links.values()) if (l.vxlan?.link && l.alias?.startsWith('vxmesh:')) return l.vxlan.link;
  return undefined;
}

/** Local unicast addresses and the device holding each. */
export function localAddresses(links: Map<string, LinkInfo>): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of links.values()) for (const a of l.addresses) out.set(a, l.name);
  return out;
}
