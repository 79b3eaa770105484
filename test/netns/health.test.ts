import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMesh, CLI, HTTP_BATCH_JS, Lab, ns, peersYaml, ping, run, statusJson, waitFor, waitForConverged, type Container, type Server } from '../helpers/lab.js';
import { LAB_DIST } from '../../lab/harness/paths.js';

const FORGE = join(LAB_DIST, 'harness/probe-forge.js');
const BATCH = HTTP_BATCH_JS;
/** One probe round a second keeps the waits short; the default is 5 s. */
const INTERVAL_S = 1;

type Health = Record<string, any>;

function linkTo(status: Record<string, any>, peer: string): Record<string, any> {
  const l = (status.links as Record<string, any>[]).find((x) => x.peer === peer);
  if (!l) throw new Error(`no link to ${peer} in ${JSON.stringify(status.links.map((x: any) => x.peer))}`);
  return l;
}

/** Wait until `server`'s link to `peer` satisfies `ok`; returns the health then and prints how long it took. */
async function waitHealth(server: Server, peer: string, what: string, ok: (h: Health) => boolean, timeoutMs = 45_000): Promise<Health> {
  let last: Health = {};
  const ms = await waitFor(`srv${server.index} -> ${peer}: ${what}`, async () => {
    last = linkTo(await statusJson(server), peer).health ?? {};
    return ok(last) || JSON.stringify(last);
  }, timeoutMs, 250);
  console.log(`srv${server.index} -> ${peer}: ${what} after ${ms} ms${last.problem ? `: ${last.problem}` : ''}`);
  return last;
}

const healthy = (h: Health) => h.state === 'ok' && h.reachable === true && h.agreement === true && h.fullSizePass === true;

async function allHealthy(lab: Lab): Promise<void> {
  for (const s of lab.servers) for (const o of lab.servers) if (o !== s) await waitHealth(s, `srv${o.index}`, 'ok', healthy);
}

async function metrics(s: Server): Promise<string> {
  const spec = { base: 'http://127.0.0.1:7789', requests: [{ path: '/metrics' }] };
  const out = await ns(s.ns, process.execPath, BATCH, JSON.stringify(spec));
  return (JSON.parse(out) as { results: { body: string }[] }).results[0]!.body;
}

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  if (!line) throw new Error(`no ${name}{${labels}} in metrics`);
  return Number(line.split(' ').pop());
}

/** Give a container IPv6 and a link-local address on the bridge segment (the lab turns IPv6 off in containers). */
async function withIpv6(c: Container, address: string): Promise<void> {
  await ns(c.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0');
  await ns(c.ns, 'sysctl', '-qw', 'net.ipv6.conf.eth0.disable_ipv6=0');
  await ns(c.ns, 'ip', 'addr', 'add', `${address}/64`, 'dev', 'eth0', 'nodad');
}

function linkExists(s: Server, dev: string): Promise<boolean> {
  return run('ip', ['-n', s.ns, 'link', 'show', dev]).then(() => true, () => false);
}

async function forge(c: Container, spec: Record<string, unknown>): Promise<void> {
  await ns(c.ns, process.execPath, FORGE, JSON.stringify(spec));
}

/** Servers 1..n probing every second; `prepare` runs on each server before its daemon starts. */
async function probingLab(lab: Lab, n: number, prepare: (s: Server) => Promise<void> | void = () => undefined): Promise<void> {
  await lab.init();
  for (let i = 1; i <= n; i++) await lab.addServer(i);
  for (const s of lab.servers) {
    await prepare(s);
    lab.writeConfig(s, peersYaml(lab.servers, { probe: { interval: INTERVAL_S } }));
    lab.startDaemon(s);
  }
  for (const s of lab.servers) await waitForConverged(s, n - 1);
}

const FORGED_INFO = { node: 'srv2', version: '0.1.0', vni: 1, mtu: 9000, port: 1, peers: 99, peersDigest: '0000000000000000', meshDigest: '0000000000000000' };

describe('link health through the overlay, 3 servers', () => {
  const lab = new Lab();
  const cfg = (extra = '', mesh: Record<string, unknown> = {}) => peersYaml(lab.servers, { probe: { interval: INTERVAL_S }, ...mesh }, extra);
  beforeAll(async () => {
    await buildMesh(lab, 3, { mesh: { probe: { interval: INTERVAL_S } } });
  }, 60_000);
  afterAll(async () => {
    await lab.cleanup();
  });

  it('every link answers through the tunnel, agrees and passes full-size frames, with an RTT; status, table and metrics say so', async () => {
    await allHealthy(lab);
    for (const s of lab.servers) {
      const st = await statusJson(s);
      expect(st.state).toBe('running');
      expect(st.warnings).toEqual([]);
      expect(st.probe.address).toBe(`fe80::7678:0:0:${s.index}`);
      expect(st.probe.keyed).toBe(false);
      for (const l of st.links) {
        expect(l.health.rttMs).toBeGreaterThan(0);
        expect(l.health.lossRatio).toBeLessThanOrEqual(0.5);
        console.log(`srv${s.index} -> ${l.peer}: rtt ${l.health.rttMs} ms (avg ${l.health.rttAvgMs} ms), loss ${l.health.lossRatio}`);
      }
      const addrs = await ns(s.ns, 'ip', '-j', 'addr', 'show', 'dev', 'vxbr0');
      expect(addrs).toContain(`fe80::7678:0:0:${s.index}`);
    }
    const m = await metrics(lab.servers[0]!);
    expect(metricValue(m, 'vxmesh_link_probe_up', 'peer="srv2"')).toBe(1);
    expect(metricValue(m, 'vxmesh_link_probe_agreement', 'peer="srv3"')).toBe(1);
    expect(metricValue(m, 'vxmesh_link_probe_full_size_pass', 'peer="srv2"')).toBe(1);
    expect(metricValue(m, 'vxmesh_link_probe_rtt_seconds', 'peer="srv2"')).toBeGreaterThan(0);
    expect(metricValue(m, 'vxmesh_link_probe_loss_ratio', 'peer="srv2"')).toBeLessThanOrEqual(0.5);
    const table = await ns(lab.servers[0]!.ns, process.execPath, CLI, 'status', '--state-dir', lab.servers[0]!.stateDir);
    expect(table).toMatch(/^PEER .* TUNNEL +RTT +LOSS +FULL +AGREE$/m);
    expect(table).toMatch(/^srv2 .* up +[\d.]+ ms +\d+% +yes +yes$/m);
  }, 120_000);

  it('a peers file listing an extra server: both sides name the difference, and fixing the file clears it', async () => {
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    lab.writeConfig(s1, cfg('  - { name: srv9, id: 9, address: "198.18.0.9" }'));
    const h21 = await waitHealth(s2, 'srv1', 'config differs', (h) => h.agreement === false);
    expect(h21.differences).toContain('srv1 has 4 peers, we have 3');
    expect(h21.state).toBe('failure');
    expect((await waitHealth(s3, 'srv1', 'config differs', (h) => h.agreement === false)).differences).toContain('srv1 has 4 peers, we have 3');
    expect((await waitHealth(s1, 'srv2', 'config differs', (h) => h.agreement === false)).differences).toContain('srv2 has 3 peers, we have 4');
    const st2 = await statusJson(s2);
    expect(st2.state).toBe('degraded');
    expect(st2.reasons.join('\n')).toMatch(/srv1 through the tunnel: config differs: srv1 has 4 peers, we have 3/);
    // The extra server does not exist: nothing answers through the tunnel or on the underlay.
    const h19 = await waitHealth(s1, 'srv9', 'unreachable, host silent on the underlay', (h) => h.state === 'failure' && h.underlay !== null);
    expect(h19.tunnelIcmp).toBe(false);
    expect(h19.underlay.hostAnswers).toBe(false);
    expect(h19.problem).toMatch(/does not answer ICMP on the underlay/);

    lab.writeConfig(s1, cfg());
    const started = Date.now();
    await waitHealth(s2, 'srv1', 'agrees again', (h) => h.agreement === true);
    const ms = Date.now() - started;
    console.log(`disagreement cleared ${ms} ms after the fix (probe interval ${INTERVAL_S * 1000} ms; includes the config reload)`);
    // One probe interval plus the reload, with room for a loaded machine.
    expect(ms).toBeLessThan(15_000);
    await allHealthy(lab);
  }, 180_000);

  it('one server with another mesh MTU: both sides name it', async () => {
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    lab.writeConfig(s3, cfg('', { mtu: 1400 }));
    try {
      const h13 = await waitHealth(s1, 'srv3', 'MTU differs', (h) => h.agreement === false);
      expect(h13.differences).toContain('srv3 uses MTU 1400, we use 1450');
      expect((await waitHealth(s3, 'srv2', 'MTU differs', (h) => h.agreement === false)).differences).toContain('srv2 uses MTU 1450, we use 1400');
      expect((await statusJson(s3)).reasons.join('\n')).toMatch(/srv1 through the tunnel: config differs: srv1 uses MTU 1450, we use 1400/);
    } finally {
      lab.writeConfig(s3, cfg());
    }
    await waitHealth(s2, 'srv3', 'agrees again', healthy);
    await allHealthy(lab);
  }, 180_000);

  it('underlay MTU lowered to 1400 between two servers: small pass, full-size fail with the largest size that passes; restoring clears it', async () => {
    const [s1, s2] = lab.servers as [Server, Server];
    const [c1, c2] = lab.containers as [Container, Container];
    const lowered = Date.now();
    for (const port of ['s1', 's2']) await ns(lab.underlay, 'ip', 'link', 'set', port, 'mtu', '1400');
    try {
      // Shown within two probe intervals (a lost full-size probe is confirmed at once), plus
      // slack for jitter, two probe timeouts and the status poll.
      await waitHealth(s1, 'srv2', 'full-size fails', (x) => x.fullSizePass === false && x.state === 'failure');
      const shownMs = Date.now() - lowered;
      console.log(`full-size loss shown in status after ${shownMs} ms (interval ${INTERVAL_S * 1000} ms)`);
      expect(shownMs).toBeLessThan(2 * INTERVAL_S * 1000 + 3000);
      for (const [a, b] of [[s1, 'srv2'], [s2, 'srv1']] as const) {
        const h = await waitHealth(a, b, 'full-size fails, with the underlay finding', (x) => x.fullSizePass === false && x.underlay?.largestPassing != null);
        expect(h.reachable).toBe(true);
        expect(h.state).toBe('failure');
        expect(h.underlay.hostAnswers).toBe(true);
        expect(h.underlay.dfSize).toBe(1500);
        expect(h.underlay.dfPasses).toBe(false);
        expect(h.underlay.largestPassing).toBe(1400);
        expect(h.problem).toMatch(/full-size frames \(MTU 1450\) do not cross, small ones do; .*the largest that does is 1400 bytes/);
      }
      expect((await statusJson(s1)).state).toBe('degraded');
      expect(await ping(c1, c2.address)).toBe(true);
      expect(await ping(c1, c2.address, ['-M', 'do', '-s', '1422'])).toBe(false);
    } finally {
      for (const port of ['s1', 's2']) await ns(lab.underlay, 'ip', 'link', 'set', port, 'mtu', '1500');
    }
    await waitHealth(s1, 'srv2', 'full-size passes again', (h) => h.fullSizePass === true && h.state === 'ok');
    await waitHealth(s2, 'srv1', 'full-size passes again', (h) => h.fullSizePass === true && h.state === 'ok');
  }, 180_000);

  it('VXLAN dropped on the underlay between two servers: unreachable through the tunnel while the host answers on the underlay', async () => {
    const [s1, s2] = lab.servers as [Server, Server];
    await run('ip', ['netns', 'exec', lab.underlay, 'nft', '-f', '-'], `table bridge vxdrop {
  chain f { type filter hook forward priority 0;
    ip saddr 198.18.0.1 ip daddr 198.18.0.2 udp dport 4789 drop
    ip saddr 198.18.0.2 ip daddr 198.18.0.1 udp dport 4789 drop
  }
}
`);
    try {
      for (const [a, b] of [[s1, 'srv2'], [s2, 'srv1']] as const) {
        const h = await waitHealth(a, b, 'unreachable, host answers', (x) => x.state === 'failure' && x.underlay !== null);
        expect(h.reachable).toBe(false);
        expect(h.tunnelIcmp).toBe(false);
        expect(h.underlay.hostAnswers).toBe(true);
        expect(h.underlay.dfPasses).toBe(true);
        expect(h.problem).toMatch(/^unreachable through the tunnel; the host 198\.18\.0\.\d answers on the underlay.*VXLAN \(UDP 4789\) is dropped on the way/);
      }
      const m = await metrics(s1);
      expect(metricValue(m, 'vxmesh_link_probe_up', 'peer="srv2"')).toBe(0);
      expect(metricValue(m, 'vxmesh_link_probe_up', 'peer="srv3"')).toBe(1);
    } finally {
      await ns(lab.underlay, 'nft', 'delete', 'table', 'bridge', 'vxdrop');
    }
    await waitHealth(s1, 'srv2', 'reachable again', healthy);
  }, 180_000);

  it('one server on VXLAN port 8472: unreachable through the tunnel, host answers, the port named as a likely cause', async () => {
    const [s1, , s3] = lab.servers as [Server, Server, Server];
    lab.writeConfig(s3, cfg('', { port: 8472 }));
    try {
      const h = await waitHealth(s1, 'srv3', 'unreachable, host answers', (x) => x.state === 'failure' && x.underlay !== null);
      expect(h.underlay.hostAnswers).toBe(true);
      expect(h.problem).toMatch(/srv3 uses another VXLAN port|srv3 last reported VXLAN port 8472/);
    } finally {
      lab.writeConfig(s3, cfg());
    }
    await waitHealth(s1, 'srv3', 'reachable again', healthy);
  }, 180_000);

  it('a stopped daemon with its data plane up is a warning, not a failure; traffic flows; it clears when the daemon is back', async () => {
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    const [c1, , c3] = lab.containers as [Container, Container, Container];
    await lab.stopDaemon(s3);
    try {
      const h = await waitHealth(s1, 'srv3', 'daemon not answering', (x) => x.tunnelIcmp === true);
      expect(h.state).toBe('warning');
      expect(h.reachable).toBe(false);
      expect(h.problem).toMatch(/^daemon not answering/);
      await waitHealth(s2, 'srv3', 'daemon not answering', (x) => x.tunnelIcmp === true && x.state === 'warning');
      const st = await statusJson(s1);
      expect(st.state).toBe('running');
      expect(st.warnings.join('\n')).toMatch(/srv3 through the tunnel: daemon not answering/);
      expect(await ping(c1, c3.address)).toBe(true);
    } finally {
      lab.startDaemon(s3);
    }
    await waitHealth(s1, 'srv3', 'answering again', healthy);
    expect((await statusJson(s1)).warnings).toEqual([]);
  }, 180_000);

  it('forged answers from a container on the bridge are ignored and counted', async () => {
    const [s1] = lab.servers as [Server];
    const c1 = lab.containers[0]!;
    await withIpv6(c1, 'fe80::c1');
    const before = (await statusJson(s1)).probe.ignored;
    const to = 'fe80::7678:0:0:1%eth0';
    // Not from a peer's probe address; then garbage; then from srv2's address (spoofed) with a made-up sequence number.
    await forge(c1, { from: 'fe80::c1%eth0', to, port: 7790, messages: [{ kind: 'response', seq: 1, sender: 2, target: 1, info: FORGED_INFO }, { raw: 'deadbeef' }] });
    await ns(c1.ns, 'ip', 'addr', 'add', 'fe80::7678:0:0:2/64', 'dev', 'eth0', 'nodad');
    try {
      await forge(c1, { from: 'fe80::7678:0:0:2%eth0', to, port: 7790, messages: [{ kind: 'response', seq: 12345, sender: 2, target: 1, info: FORGED_INFO }] });
      await waitFor('forgeries counted', async () => {
        const i = (await statusJson(s1)).probe.ignored;
        return (i.not_a_peer > before.not_a_peer && i.malformed > before.malformed && i.unexpected > before.unexpected) || JSON.stringify(i);
      }, 10_000, 200);
    } finally {
      await ns(c1.ns, 'ip', 'addr', 'del', 'fe80::7678:0:0:2/64', 'dev', 'eth0');
      // The spoofed address taught srv1's neighbour table c1's MAC for srv2's probe address.
      await ns(s1.ns, 'ip', '-6', 'neigh', 'flush', 'dev', 'vxbr0');
    }
    const m = await metrics(s1);
    expect(metricValue(m, 'vxmesh_probe_ignored_total', 'reason="not_a_peer"')).toBeGreaterThan(0);
    expect(metricValue(m, 'vxmesh_probe_ignored_total', 'reason="unexpected"')).toBeGreaterThan(0);
    // The forged facts (MTU 9000, 99 peers) were never taken for srv2's.
    const h = await waitHealth(s1, 'srv2', 'still ok', healthy);
    expect(h.differences).toEqual([]);
  }, 120_000);

  // Last in this block: the containers' ports do not come back with the bridge.
  it('the bridge deleted on a running mesh: the daemon makes it again, the probe binds to the new one, link health is ok again within a bound', async () => {
    const [s1] = lab.servers as [Server, Server, Server];
    await allHealthy(lab);
    const deleted = Date.now();
    await ns(s1.ns, 'ip', 'link', 'del', 'vxbr0');
    await waitFor('vxbr0 made again on srv1', () => linkExists(s1, 'vxbr0'), 20_000, 100);
    for (const peer of ['srv2', 'srv3']) await waitHealth(s1, peer, 'ok after the bridge came back', healthy, 20_000);
    for (const other of lab.servers.slice(1)) await waitHealth(other, 'srv1', 'ok after srv1\'s bridge came back', healthy, 20_000);
    const backMs = Date.now() - deleted;
    console.log(`link health ok again ${backMs} ms after the bridge was deleted`);
    expect(backMs).toBeLessThan(15_000);
    // Loss counted over the window: history was kept, not wiped by the repair.
    const h = linkTo(await statusJson(s1), 'srv2').health;
    expect(h.lossRatio).not.toBeNull();
  }, 120_000);
});

describe('link health with a mesh key, 3 servers', () => {
  const lab = new Lab();
  const keyFile = (s: Server) => join(lab.dir, `srv${s.index}.key`);
  beforeAll(async () => {
    // Each server names its own key file: a per-server drop-in, as the Ansible role writes.
    await probingLab(lab, 3, (s) => {
      writeFileSync(keyFile(s), 'correct horse battery staple\n', { mode: 0o600 });
      lab.writeConfig(s, `mesh:\n  probe_key_file: ${JSON.stringify(keyFile(s))}\n`, 'peers.d/10-key.yaml');
    });
    for (const s of lab.servers) await lab.addContainer(s, s.index);
  }, 60_000);
  afterAll(async () => {
    await lab.cleanup();
  });

  it('with the same key everywhere every link is authenticated', async () => {
    await allHealthy(lab);
    for (const s of lab.servers) {
      const st = await statusJson(s);
      expect(st.probe.keyed).toBe(true);
      for (const l of st.links) expect(l.health.authenticated).toBe(true);
    }
  }, 120_000);

  it('a server with a wrong key: its probes are ignored and counted, and the link says the keys differ; a container without the key is ignored too', async () => {
    const [s1, s2, s3] = lab.servers as [Server, Server, Server];
    const before = (await statusJson(s1)).probe.ignored.bad_key;
    writeFileSync(keyFile(s3), 'a different key, long enough\n');
    try {
      for (const [a, b] of [[s1, 'srv3'], [s2, 'srv3'], [s3, 'srv1']] as const) {
        const h = await waitHealth(a, b, 'keys differ', (x) => x.state === 'failure' && /key/.test(x.problem ?? ''));
        expect(h.problem).toMatch(/probes fail our key check/);
      }
      const after = (await statusJson(s1)).probe.ignored.bad_key;
      expect(after).toBeGreaterThan(before);
      console.log(`srv1 ignored ${after - before} probes with a wrong key`);
      expect(metricValue(await metrics(s1), 'vxmesh_probe_ignored_total', 'reason="bad_key"')).toBeGreaterThan(0);
      // Links between the two servers with the right key are untouched.
      await waitHealth(s1, 'srv2', 'still ok', healthy);
    } finally {
      writeFileSync(keyFile(s3), 'correct horse battery staple\n');
    }
    await waitHealth(s1, 'srv3', 'authenticated again', (h) => healthy(h) && h.authenticated === true);

    const c1 = lab.containers[0]!;
    await withIpv6(c1, 'fe80::7678:0:0:2');
    const beforeForge = (await statusJson(s1)).probe.ignored.bad_key;
    try {
      await forge(c1, { from: 'fe80::7678:0:0:2%eth0', to: 'fe80::7678:0:0:1%eth0', port: 7790, messages: [{ kind: 'response', seq: 7, sender: 2, target: 1, info: FORGED_INFO }, { kind: 'request', seq: 8, sender: 2, target: 1 }] });
      await waitFor('unsigned forgeries counted as bad_key', async () => {
        const n = (await statusJson(s1)).probe.ignored.bad_key;
        return n >= beforeForge + 2 || `${n - beforeForge}`;
      }, 10_000, 200);
    } finally {
      await ns(c1.ns, 'ip', 'addr', 'del', 'fe80::7678:0:0:2/64', 'dev', 'eth0');
      await ns(s1.ns, 'ip', '-6', 'neigh', 'flush', 'dev', 'vxbr0');
    }
  }, 240_000);
});

describe('link health where IPv6 is disabled on the hosts, 2 servers', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await probingLab(lab, 2, async (s) => {
      for (const scope of ['all', 'default']) await ns(s.ns, 'sysctl', '-qw', `net.ipv6.conf.${scope}.disable_ipv6=1`);
    });
  }, 60_000);
  afterAll(async () => {
    await lab.cleanup();
  });

  it('probes over the IPv4 link-local fallback', async () => {
    await allHealthy(lab);
    for (const s of lab.servers) {
      const st = await statusJson(s);
      expect(st.probe.family).toBe(4);
      expect(st.probe.address).toBe(`169.254.1.${s.index}`);
      expect(await ns(s.ns, 'ip', '-4', 'addr', 'show', 'dev', 'vxbr0')).toContain(`169.254.1.${s.index}/17`);
      // The cloud metadata address is not routed onto the tenants' bridge.
      expect(await ns(s.ns, 'ip', '-4', 'route', 'get', '169.254.169.254').catch((e: Error) => e.message)).not.toMatch(/dev vxbr0/);
      expect(await ns(s.ns, 'ip', '-4', 'route', 'show', 'dev', 'vxbr0')).not.toMatch(/169\.254\.0\.0\/16/);
    }
  }, 60_000);

  it('mesh.probe.enabled: false takes the address off the bridge and stops probing', async () => {
    for (const s of lab.servers) lab.writeConfig(s, peersYaml(lab.servers, { probe: { enabled: false } }));
    for (const s of lab.servers) {
      await waitFor(`srv${s.index}: probe off, address gone`, async () => {
        const st = await statusJson(s);
        const addr = await ns(s.ns, 'ip', '-4', 'addr', 'show', 'dev', 'vxbr0');
        return (st.probe.enabled === false && st.links.every((l: any) => l.health === null) && !addr.includes('169.254.')) || `${st.probe.enabled} ${addr}`;
      }, 15_000, 250);
      expect((await statusJson(s)).state).toBe('running');
    }
  }, 60_000);
});

describe('the probe address on a bridge vxmesh did not create, 2 servers', () => {
  const lab = new Lab();
  beforeAll(async () => {
    await probingLab(lab, 2, async (s) => {
      if (s.index !== 1) return;
      // As netplan makes it, before vxmesh starts.
      await ns(s.ns, 'ip', 'link', 'add', 'vxbr0', 'type', 'bridge');
      await ns(s.ns, 'ip', 'addr', 'add', 'fe80::aa/64', 'dev', 'vxbr0', 'nodad');
    });
  }, 60_000);
  afterAll(async () => {
    await lab.cleanup();
  });

  it('stop takes the probe address off (and only it), start puts it back', async () => {
    const s1 = lab.servers[0]!;
    await allHealthy(lab);
    const cli = (verb: string) => run('ip', ['netns', 'exec', s1.ns, process.execPath, CLI, verb, '--state-dir', s1.stateDir]);
    const addrs = async () => (await ns(s1.ns, 'ip', '-6', 'addr', 'show', 'dev', 'vxbr0')).match(/fe80::[0-9a-f:]+/g) ?? [];
    expect(await addrs()).toContain('fe80::7678:0:0:1');
    expect(await cli('stop')).toMatch(/remove probe address fe80::7678:0:0:1 from vxbr0/);
    const after = await addrs();
    expect(after).not.toContain('fe80::7678:0:0:1');
    expect(after).toContain('fe80::aa');
    expect((await statusJson(s1)).probe.enabled).toBe(false);
    await cli('start');
    await waitHealth(s1, 'srv2', 'ok after start', healthy);
    expect(await addrs()).toContain('fe80::7678:0:0:1');
  }, 90_000);
});

describe('a probe key file that is a FIFO or /dev/zero, 2 servers', () => {
  const lab = new Lab();
  const dropin = 'peers.d/10-key.yaml';
  const keyAt = (s: Server, path: string) => lab.writeConfig(s, `mesh:\n  probe_key_file: ${JSON.stringify(path)}\n`, dropin);
  beforeAll(async () => {
    await probingLab(lab, 2, (s) => {
      if (s.index === 1) {
        execFileSync('mkfifo', [join(lab.dir, 'key.fifo')]);
        keyAt(s, join(lab.dir, 'key.fifo'));
      }
    });
  }, 60_000);
  afterAll(async () => {
    await lab.cleanup();
  });

  async function repairs(s: Server): Promise<void> {
    await ns(s.ns, 'ip', 'link', 'del', 'vxlan2');
    const ms = await waitFor('vxlan2 made again', () => linkExists(s, 'vxlan2'), 15_000, 100);
    console.log(`deleted device re-created after ${ms} ms`);
  }

  it('repair keeps working and status names the key file problem', async () => {
    const [s1] = lab.servers as [Server, Server];
    const fifo = join(lab.dir, 'key.fifo');
    await waitFor('status names the FIFO', async () => {
      const st = await statusJson(s1);
      return /probe key file .*key\.fifo.*FIFO/.test(st.probe.problem ?? '') || JSON.stringify(st.probe);
    }, 15_000, 250);
    const st = await statusJson(s1);
    expect(st.probe.keyed).toBe(false);
    expect(st.warnings.join('\n')).toMatch(/link-health probe: cannot use the probe key file .*FIFO/);
    await repairs(s1);
    expect(fifo).toMatch(/key\.fifo$/);

    keyAt(s1, '/dev/zero');
    await waitFor('status names /dev/zero', async () => {
      const p = (await statusJson(s1)).probe.problem ?? '';
      return /\/dev\/zero: is a character device/.test(p) || p;
    }, 15_000, 250);
    await repairs(s1);
    await repairs(s1);
  }, 120_000);
});
