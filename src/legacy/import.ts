/**
 * From the settings of the servers that run vxlansetup.sh to one shared peers file
 * that describes each of them as a legacy peer, plus what an operator must know
 * before moving them to vxmesh one at a time. Pure.
 */
import { parseConfig, formatIssue } from '../config/load.js';
import { MAIN_FILE } from '../config/load.js';
import { MESH_DEFAULTS } from '../model/types.js';
import { PEER_NAME, sharedDeviceName } from '../model/names.js';
import type { LegacyServer } from './parse.js';

export interface LegacyInput {
  /** Peer name to use; derived when absent. */
  name?: string;
  server: LegacyServer;
}

export type FindingKind = 'vni-mismatch' | 'one-sided' | 'no-script' | 'can-move';

export interface Finding {
  kind: FindingKind;
  message: string;
}

export interface ImportedPeer {
  name: string;
  id: number;
  address: string;
  dev?: string;
  /** REMOTEIPS in the script's order, when the server still runs the script. */
  remotes?: string[];
  source?: string;
}

export type ImportResult =
  | { ok: true; yaml: string; peers: ImportedPeer[]; mesh: { bridge: string; port: number; mtu: number }; findings: Finding[] }
  | { ok: false; errors: string[] };

/** Sort key that orders IPv4 numerically and puts IPv6 after it. */
function addressKey(a: string): string {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) return '4:' + v4.slice(1).map((x) => x.padStart(3, '0')).join('.');
  return '6:' + a;
}


export function importLegacyServers(inputs: LegacyInput[]): ImportResult {
  const errors: string[] = [];
  if (inputs.length === 0) return { ok: false, errors: ['no servers given'] };

  // One script per server.
  const byLocal = new Map<string, LegacyInput>();
  for (const i of inputs) {
    const prev = byLocal.get(i.server.localIp);
    if (prev) errors.push(`${i.server.source}: LOCALIP ${i.server.localIp} is also the LOCALIP of ${prev.server.source}`);
    else byLocal.set(i.server.localIp, i);
  }

  // Settings the mesh has once must agree between scripts.
  const one = <T>(what: string, get: (s: LegacyServer) => T | undefined, fallback: T): T => {
    const seen = new Map<T, string[]>();
    for (const i of inputs) {
      const v = get(i.server);
      if (v !== undefined) seen.set(v, [...(seen.get(v) ?? []), i.server.source]);
    }
    if (seen.size > 1) {
      errors.push(`${what} differs between the scripts (${[...seen].map(([v, s]) => `${String(v)} in ${s.join(', ')}`).join('; ')}); a mesh has one ${what}: make them equal first`);
    }
    return seen.keys().next().value ?? fallback;
  };
  const port = one('PORT', (s) => s.port, MESH_DEFAULTS.port);
  const bridge = one('BRIDGE_DEV', (s) => s.bridgeDev, MESH_DEFAULTS.bridge);

  for (const i of inputs) if (i.name !== undefined && !PEER_NAME.test(i.name)) errors.push(`${i.server.source}: name "${i.name}" must be 1-63 letters, digits, "_", "." or "-"`);
  if (errors.length > 0) return { ok: false, errors };

  // Every address either end names becomes a peer.
  const addresses = new Set<string>();
  for (const i of inputs) {
    addresses.add(i.server.localIp);
    for (const r of i.server.remotes) addresses.add(r);
  }
  const sorted = [...addresses].sort((a, b) => (addressKey(a) < addressKey(b) ? -1 : addressKey(a) > addressKey(b) ? 1 : 0));
  const peers: ImportedPeer[] = [];
  const usedNames = new Set<string>();
  sorted.forEach((address, n) => {
    const id = n + 1;
    const input = byLocal.get(address);
    let name = input?.name ?? `peer${id}`;
    if (usedNames.has(name)) {
      if (input?.name !== undefined) errors.push(`${input.server.source}: name "${name}" is given to two servers`);
      name = `peer${id}`;
    }
    usedNames.add(name);
    peers.push({
      name,
      id,
      address,
      ...(input?.server.localDev ? { dev: input.server.localDev } : {}),
      ...(input ? { remotes: input.server.remotes, source: input.server.source } : {}),
    });
  });
  if (errors.length > 0) return { ok: false, errors };

  const findings = analyse(peers);
  const yaml = render(peers, { bridge, port, mtu: MESH_DEFAULTS.mtu }, inputs.map((i) => i.server.source));

  // What we write must be a config vxmesh accepts.
  const check = parseConfig([{ path: MAIN_FILE, text: yaml }]);
  if (!check.ok) return { ok: false, errors: check.issues.map((i) => `generated config is invalid: ${formatIssue(i)}`) };
  return { ok: true, yaml, peers, mesh: { bridge, port, mtu: MESH_DEFAULTS.mtu }, findings };
}

/** Links whose ends disagree today, and which servers can move to vxmesh now. */
export function analyse(peers: ImportedPeer[]): Finding[] {
  const findings: Finding[] = [];
  const legacy = peers.filter((p) => p.remotes);
  for (const p of peers.filter((q) => !q.remotes)) {
    const by = legacy.filter((l) => l.remotes!.includes(p.address)).map((l) => l.name);
    findings.push({
      kind: 'no-script',
      message: `${p.name} (${p.address}) is in the REMOTEIPS of ${by.join(', ')} but no script was given for it: described as a vxmesh peer. If it still runs vxlansetup.sh, import its script too.`,
    });
  }
  for (let x = 0; x < legacy.length; x++) {
    for (let y = x + 1; y < legacy.length; y++) {
      const a = legacy[x]!;
      const b = legacy[y]!;
      const ab = a.remotes!.indexOf(b.address);
      const ba = b.remotes!.indexOf(a.address);
      if (ab >= 0 && ba >= 0 && ab !== ba) {
        findings.push({ kind: 'vni-mismatch', message: `link ${a.name}-${b.name} uses VNI ${ab} on ${a.name} but VNI ${ba} on ${b.name}: it works today only through VXLAN learning` });
      } else if (ab >= 0 && ba < 0) {
        findings.push({ kind: 'one-sided', message: `${a.name} has a device to ${b.name} (VNI ${ab}) but ${b.name} has none to ${a.name}: this link passes no traffic today` });
      } else if (ba >= 0 && ab < 0) {
        findings.push({ kind: 'one-sided', message: `${b.name} has a device to ${a.name} (VNI ${ba}) but ${a.name} has none to ${b.name}: this link passes no traffic today` });
      }
    }
  }
  // A server that moves to vxmesh keeps, towards each script server L, the VNI L gives it
  // (its index in L's REMOTEIPS). The kernel allows one device per VNI and port, so script
  // servers that give it the same VNI are reached through one shared device.
  for (const x of legacy) {
    const byVni = new Map<number, string[]>();
    for (const l of legacy) {
      if (l === x) continue;
      const k = l.remotes!.indexOf(x.address);
      if (k >= 0) byVni.set(k, [...(byVni.get(k) ?? []), l.name]);
    }
    const shared = [...byVni].filter(([, names]) => names.length > 1);
    findings.push({
      kind: 'can-move',
      message: shared.length === 0
        ? `${x.name} can move to vxmesh now: the script servers give it distinct VNIs`
        : `${x.name} can move to vxmesh now; ${shared.map(([k, names]) => `${names.join(' and ')} all give it VNI ${k}, so it reaches them through one shared device (${sharedDeviceName(k)})`).join('; ')}`,
    });
  }
  return findings;
}

function render(peers: ImportedPeer[], mesh: { bridge: string; port: number; mtu: number }, sources: string[]): string {
  const lines = [
    '# vxmesh peers file, written by `vxmesh import-legacy` from:',
    ...sources.map((s) => `#   ${s}`),
    '# The same file goes to every server. A peer with `legacy:` still runs',
    '# vxlansetup.sh with exactly those REMOTEIPS (in that order: the remote at',
    '# index k has VNI k). When a server moves to vxmesh, delete its `legacy:` line.',
    'mesh:',
    `  bridge: ${mesh.bridge}`,
    `  mtu: ${mesh.mtu}`,
    `  port: ${mesh.port}`,
    'peers:',
  ];
  for (const p of peers) {
    lines.push(`  - name: ${p.name}`, `    id: ${p.id}`, `    address: ${quoteIfNeeded(p.address)}`);
    if (p.dev) lines.push(`    dev: ${p.dev}`);
    if (p.remotes) lines.push(`    legacy: { remotes: [${p.remotes.map(quoteIfNeeded).join(', ')}] }`);
    else lines.push('    # no vxlansetup.sh settings were given for this server');
  }
  return lines.join('\n') + '\n';
}

/** IPv6 addresses contain ':' and must be quoted in flow YAML. */
function quoteIfNeeded(s: string): string {
  return s.includes(':') ? `"${s}"` : s;
}
