import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseLegacyEnv, parseLegacyText } from '../../src/legacy/parse.js';
import { importLegacyServers, type LegacyInput } from '../../src/legacy/import.js';
import { importLegacy, nameFromPath } from '../../src/cli/import-legacy.js';
import { parseConfig } from '../../src/config/load.js';
import { linkVni } from '../../src/model/vni.js';
import { computeDesired } from '../../src/plan/desired.js';

const SCRIPT = `#!/bin/bash
# vxlansetup.sh as found on lxd1
LOCAL_DEV=eth0
LOCALIP=198.51.100.10          # this server
REMOTEIPS="198.51.100.20 198.51.100.30"
BRIDGE_DEV=vxbr0
VXLAN_DEV=vxlan
PORT=4789
DRYRUN=\${DRYRUN:-0}

start() {
  ip link add $BRIDGE_DEV type bridge
  id=0
  for ip in $REMOTEIPS; do
    ip link add \${VXLAN_DEV}$id type vxlan id $id remote $ip local $LOCALIP dev $LOCAL_DEV dstport $PORT
    id=$((id+1))
  done
}
`;

function server(text: string, source = 's.sh', env: Record<string, string> = {}) {
  const r = parseLegacyText(text, source, env);
  if (!r.ok) throw new Error(r.problems.map((p) => p.message).join('; '));
  return r.server;
}

describe('parsing vxlansetup.sh variables', () => {
  it('reads the six variables of a typical script and ignores the rest', () => {
    expect(server(SCRIPT)).toEqual({
      source: 's.sh',
      localIp: '198.51.100.10',
      remotes: ['198.51.100.20', '198.51.100.30'],
      localDev: 'eth0',
      bridgeDev: 'vxbr0',
      vxlanDev: 'vxlan',
      port: 4789,
    });
  });

  it('understands quotes, export, bash arrays over several lines, and commas', () => {
    const s = server(`export LOCALIP='198.51.100.10'
declare -a REMOTEIPS=(
  198.51.100.20   # lxd2
  "198.51.100.30"
)
PORT="8472"`);
    expect(s.remotes).toEqual(['198.51.100.20', '198.51.100.30']);
    expect(s.port).toBe(8472);
    expect(server('LOCALIP=198.51.100.10\nREMOTEIPS=198.51.100.20,198.51.100.30\n').remotes).toEqual(['198.51.100.20', '198.51.100.30']);
    expect(server('LOCALIP=198.51.100.10\nREMOTEIPS=(198.51.100.20)\nREMOTEIPS+=(198.51.100.30)\n').remotes).toEqual(['198.51.100.20', '198.51.100.30']);
  });

  it('takes values from the environment where the script defers to it, and the script wins otherwise', () => {
    const text = 'LOCALIP=${LOCALIP:-198.51.100.10}\nREMOTEIPS="${REMOTEIPS:-198.51.100.20}"\nPORT=4789\n';
    expect(server(text).localIp).toBe('198.51.100.10');
    const s = server(text, 's.sh', { LOCALIP: '198.51.100.99', REMOTEIPS: '198.51.100.1 198.51.100.2', PORT: '1' });
    expect(s.localIp).toBe('198.51.100.99');
    expect(s.remotes).toEqual(['198.51.100.1', '198.51.100.2']);
    expect(s.port).toBe(4789);
    // Variables the script does not set at all come from the environment.
    expect(server('REMOTEIPS="198.51.100.20"\n', 's.sh', { LOCALIP: '198.51.100.10' }).localIp).toBe('198.51.100.10');
  });

  it('expands references to other variables', () => {
    const s = server('NET=198.51.100\nLOCALIP=$NET.10\nREMOTEIPS="${NET}.20 $NET.30"\n');
    expect(s.localIp).toBe('198.51.100.10');
    expect(s.remotes).toEqual(['198.51.100.20', '198.51.100.30']);
  });

  it('reads a server from the environment alone', () => {
    const r = parseLegacyEnv({ LOCALIP: '2001:DB8::1', REMOTEIPS: '2001:db8::2 2001:db8:0::3', LOCAL_DEV: 'ens3' });
    expect(r.ok && r.server).toMatchObject({ localIp: '2001:db8::1', remotes: ['2001:db8::2', '2001:db8::3'], localDev: 'ens3' });
  });

  it('reports what it cannot use, with the line', () => {
    const bad = (text: string, env: Record<string, string> = {}) => {
      const r = parseLegacyText(text, 'x.sh', env);
      expect(r.ok).toBe(false);
      return r.ok ? [] : r.problems.map((p) => `${p.line}: ${p.message}`);
    };
    expect(bad('REMOTEIPS=198.51.100.20\n')).toEqual(['1: LOCALIP is not set']);
    expect(bad('LOCALIP=$(hostname -I)\nREMOTEIPS=198.51.100.20\n')[0]).toMatch(/^1: LOCALIP: uses command or arithmetic substitution/);
    expect(bad('LOCALIP=198.51.100.10\nREMOTEIPS="198.51.100.20 lxd3"\n')).toEqual(['2: REMOTEIPS: "lxd3" is not an IPv4 or IPv6 address']);
    expect(bad('LOCALIP=198.51.100.10\nREMOTEIPS="198.51.100.20 198.51.100.10"\n')[0]).toMatch(/is LOCALIP itself/);
    expect(bad('LOCALIP=198.51.100.10\nREMOTEIPS="198.51.100.20 198.51.100.20"\n')[0]).toMatch(/listed twice/);
    expect(bad('LOCALIP=198.51.100.10\nREMOTEIPS=198.51.100.20\nPORT=99999\n')).toEqual(['3: PORT: "99999" is not a UDP port']);
    expect(bad('LOCALIP=198.51.100.10\nREMOTEIPS=198.51.100.20\nLOCAL_DEV=averyveryverylongname\n')[0]).toMatch(/^3: LOCAL_DEV: .* is not an interface name/);
  });

  it('derives peer names from file names', () => {
    expect(nameFromPath('/srv/scripts/lxd1.sh')).toBe('lxd1');
    expect(nameFromPath('/srv/lxd2/vxlansetup.sh')).toBe('lxd2');
    expect(nameFromPath('vxlansetup.sh')).toBeUndefined();
  });
});

/** Three servers, each listing the others in natural order (the usual way the script is rolled out). */
function natural(n: number, names = ['a', 'b', 'c', 'd', 'e']): LegacyInput[] {
  const addr = (i: number) => `198.51.100.${10 * (i + 1)}`;
  return Array.from({ length: n }, (_, i) => ({
    name: names[i]!,
    server: { source: `${names[i]}.sh`, localIp: addr(i), remotes: Array.from({ length: n }, (_, k) => k).filter((k) => k !== i).map(addr), port: 4789, bridgeDev: 'vxbr0' },
  }));
}

describe('import of several servers', () => {
  it('writes one peers file with every server as a legacy peer, ids in address order, and vxmesh accepts it', () => {
    const r = importLegacyServers(natural(3).reverse());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.peers.map((p) => [p.name, p.id, p.address])).toEqual([
      ['a', 1, '198.51.100.10'],
      ['b', 2, '198.51.100.20'],
      ['c', 3, '198.51.100.30'],
    ]);
    expect(r.yaml).toContain('    legacy: { remotes: [198.51.100.10, 198.51.100.20] }');
    const cfg = parseConfig([{ path: 'peers.yaml', text: r.yaml }]);
    expect(cfg.ok).toBe(true);
    if (!cfg.ok) return;
    expect(cfg.config.mesh).toMatchObject({ bridge: 'vxbr0', port: 4789, mtu: 1450 });
    expect(cfg.config.peers.find((p) => p.name === 'c')?.legacy?.remotes).toEqual(['198.51.100.10', '198.51.100.20']);
    // The loader sees the same learning-only link the import reports.
    expect(cfg.config.warnings.join('\n')).toMatch(/legacy link a-c uses VNI 1 on a but 0 on c/);
  });

  it('reports the links whose ends use different VNIs (natural order, 3 servers: link a-c)', () => {
    const r = importLegacyServers(natural(3));
    if (!r.ok) throw new Error(r.errors.join());
    const mismatches = r.findings.filter((f) => f.kind === 'vni-mismatch').map((f) => f.message);
    expect(mismatches).toEqual(['link a-c uses VNI 1 on a but VNI 0 on c: it works today only through VXLAN learning']);
    // With 5 servers in natural order, every link i<j with j > i+1 disagrees.
    const r5 = importLegacyServers(natural(5));
    if (!r5.ok) throw new Error(r5.errors.join());
    expect(r5.findings.filter((f) => f.kind === 'vni-mismatch')).toHaveLength(6);
  });

  it('tells every server it can move, and which script servers it will reach through a shared device', () => {
    const r = importLegacyServers(natural(3));
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.findings.filter((f) => f.kind === 'can-move').map((f) => f.message)).toEqual([
      'a can move to vxmesh now; b and c all give it VNI 0, so it reaches them through one shared device (vxlanv0)',
      'b can move to vxmesh now: the script servers give it distinct VNIs',
      'c can move to vxmesh now; a and b all give it VNI 1, so it reaches them through one shared device (vxlanv1)',
    ]);
  });

  it('every mover validates once its legacy line is removed, and gets a shared device where VNIs repeat', () => {
    const r = importLegacyServers(natural(3));
    if (!r.ok) throw new Error(r.errors.join());
    const moved = (name: string) => {
      const lines = r.yaml.split('\n');
      const at = lines.indexOf(`  - name: ${name}`);
      const legacyLine = lines.findIndex((l, n) => n > at && l.startsWith('    legacy:'));
      lines.splice(legacyLine, 1);
      return parseConfig([{ path: 'peers.yaml', text: lines.join('\n') }]);
    };
    expect(moved('b').ok).toBe(true);
    const a = moved('a');
    if (!a.ok) throw new Error(JSON.stringify(a.issues));
    const self = a.config.peers[0]!;
    const d = computeDesired(a.config, self, 'eth0');
    expect(d.devices.map((x) => [x.device, x.vni, x.remotes, x.shared])).toEqual([['vxlanv0', 0, [a.config.peers[1]!.address, a.config.peers[2]!.address].sort(), true]]);
    expect(d.links.map((l) => [l.peer, l.device, l.vni])).toEqual([
      ['b', 'vxlanv0', 0],
      ['c', 'vxlanv0', 0],
    ]);
    // After b moved, each of b's links uses the VNI the script end gives it.
    const ok = moved('b');
    if (!ok.ok) return;
    const [pa, pb, pc] = ok.config.peers as [any, any, any];
    expect(linkVni(pb, pa, 100000)).toBe(0);
    expect(linkVni(pb, pc, 100000)).toBe(1);
  });

  it('describes addresses without a script as vxmesh peers and says so', () => {
    const [a] = natural(3);
    const r = importLegacyServers([a!]);
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.peers.map((p) => [p.name, Boolean(p.remotes)])).toEqual([
      ['a', true],
      ['peer2', false],
      ['peer3', false],
    ]);
    expect(r.findings.filter((f) => f.kind === 'no-script')).toHaveLength(2);
    expect(parseConfig([{ path: 'peers.yaml', text: r.yaml }]).ok).toBe(true);
  });

  it('reports links only one end has', () => {
    const [a, b] = natural(2);
    b!.server.remotes = ['198.51.100.30'];
    const r = importLegacyServers([a!, b!]);
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.findings.filter((f) => f.kind === 'one-sided').map((f) => f.message)).toEqual([
      'a has a device to b (VNI 0) but b has none to a: this link passes no traffic today',
    ]);
  });

  it('refuses scripts that contradict each other', () => {
    const [a, b, c] = natural(3);
    c!.server.port = 8472;
    const r = importLegacyServers([a!, b!, c!]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]).toMatch(/PORT differs between the scripts \(4789 in a.sh, b.sh; 8472 in c.sh\)/);
    const dup = importLegacyServers([a!, { ...a!, name: 'x' }]);
    expect(!dup.ok && dup.errors[0]).toMatch(/LOCALIP 198.51.100.10 is also the LOCALIP of a.sh/);
  });

  it('keeps LOCAL_DEV as the peer dev and handles IPv6 underlays', () => {
    const r = importLegacyServers([
      { name: 'v6a', server: { source: 'a', localIp: '2001:db8::1', remotes: ['2001:db8::2'], localDev: 'ens3' } },
      { name: 'v6b', server: { source: 'b', localIp: '2001:db8::2', remotes: ['2001:db8::1'] } },
    ]);
    if (!r.ok) throw new Error(r.errors.join());
    expect(r.yaml).toContain('    address: "2001:db8::1"\n    dev: ens3\n    legacy: { remotes: ["2001:db8::2"] }');
  });
});

describe('vxmesh import-legacy (the CLI verb)', () => {
  let dir: string;
  let err: string[];
  let out: string[];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vxmesh-legacy-'));
    err = [];
    out = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the peers file from several scripts and reports on stderr', async () => {
    const files = [];
    for (const [i, input] of natural(3).entries()) {
      const path = join(dir, `lxd${i + 1}.sh`);
      await writeFile(path, `LOCALIP=${input.server.localIp}\nREMOTEIPS="${input.server.remotes.join(' ')}"\nPORT=4789\n`);
      files.push(path);
    }
    const output = join(dir, 'peers.yaml');
    expect(await importLegacy([...files, '-o', output], {})).toBe(0);
    const text = await readFile(output, 'utf8');
    expect(text).toContain('  - name: lxd1\n    id: 1\n    address: 198.51.100.10\n    legacy: { remotes: [198.51.100.20, 198.51.100.30] }');
    expect(err.join('')).toMatch(/vni-mismatch: link lxd1-lxd3 uses VNI 1 on lxd1 but VNI 0 on lxd3/);
    expect(err.join('')).toMatch(/can-move: lxd2 can move/);
    // An existing file is kept unless --force.
    expect(await importLegacy([...files, '-o', output], {})).toBe(1);
    expect(await importLegacy([...files, '-o', output, '--force'], {})).toBe(0);
  });

  it('reads the environment with --env, names peers with NAME=FILE, and prints to stdout', async () => {
    const path = join(dir, 'vxlansetup.sh');
    await writeFile(path, 'LOCALIP=198.51.100.20\nREMOTEIPS=198.51.100.10\n');
    expect(await importLegacy([`lxd2=${path}`, '--env', '--env-name', 'lxd1'], { LOCALIP: '198.51.100.10', REMOTEIPS: '198.51.100.20' })).toBe(0);
    expect(out.join('')).toMatch(/- name: lxd1\n {4}id: 1\n/);
    expect(out.join('')).toMatch(/- name: lxd2\n {4}id: 2\n/);
  });

  it('exits 1 with file:line for an unreadable script and 2 for usage errors', async () => {
    const path = join(dir, 'bad.sh');
    await writeFile(path, 'LOCALIP=`hostname -i`\nREMOTEIPS=198.51.100.10\n');
    expect(await importLegacy([path], {})).toBe(1);
    expect(err.join('')).toContain(`${path}:1: LOCALIP: uses command substitution`);
    expect(await importLegacy([], {})).toBe(2);
    expect(await importLegacy(['--bogus'], {})).toBe(2);
    expect(await importLegacy(['--help'], {})).toBe(0);
    expect(out.join('')).toContain('Usage: vxmesh import-legacy');
  });
});
