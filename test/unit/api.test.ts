import { mkdir, mkdtemp, readFile, rm, stat, chmod, lchown, symlink, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { buildServer, isLoopbackHostHeader, listenApi, serveOn } from '../../src/api/server.js';
import { listenLocal } from '../../src/api/local-listener.js';
import { listenUnix, resolveRunDir } from '../../src/api/unix-socket.js';
import { operationAnswer, statusAnswer } from '../../src/cli/answers.js';
import { API_LIMITS } from '../../src/api/limits.js';
import { renderMetrics } from '../../src/api/metrics.js';
import { ensureToken, readToken } from '../../src/api/token.js';
import { apiGet, apiOperation, apiPost, apiRequest } from '../../src/cli/client.js';
import { runCliFromSource } from './helpers/cli.js';
import { formatBytes, linkState, renderOperation, renderStatusTable } from '../../src/cli/render.js';
import type { LinkStatus, MeshControl, OperationResult, StatusReport } from '../../src/daemon/status.js';

const TOKEN = 'a3f1c2d4e5b6978899aabbccddeeff00112233445566778899aabbccddeeff01';
const TOKEN_PATH = '/var/lib/vxmesh/api-token';

function link(over: Partial<LinkStatus>): LinkStatus {
  return {
    peer: 'lxd2',
    peerId: 2,
    remote: '198.51.100.20',
    local: '198.51.100.10',
    vni: 100001,
    device: 'vxlan2',
    legacy: false,
    present: true,
    up: true,
    attached: true,
    mtu: 1450,
    rxBytes: 1_258_291, // 1.2 MiB
    txBytes: 512,
    rxPackets: 900,
    txPackets: 4,
    learnedMacs: 3,
    fdbEntry: null,
    problem: null,
    health: null,
    ...over,
  };
}

function sampleReport(over: Partial<StatusReport> = {}): StatusReport {
  return {
    version: '9.8.7',
    node: 'lxd1',
    state: 'running',
    reasons: [],
    warnings: [],
    config: {
      dir: '/etc/vxmesh',
      files: ['peers.yaml', 'peers.d/10-node.yaml'],
      loadedAt: '2025-01-02T03:04:05.000Z',
      lastError: null,
      warnings: [],
    },
    underlay: { device: 'eth0', address: '198.51.100.10', mtu: 1500, problem: null },
    bridge: { name: 'vxbr0', present: true, up: true, mtu: 1450, ownedByVxmesh: true },
    mode: 'per-peer',
    device: null,
    multicast: null,
    segments: [],
    links: [
      link({}),
      link({ peer: 'old3', peerId: 3, remote: '198.51.100.30', vni: 2, device: 'vxlan3', legacy: true, rxBytes: 0, txBytes: 3 * 1024 ** 3, learnedMacs: 12 }),
    ],
    loopPrevention: { mode: 'ebtables', backend: { name: 'nft', ebtables: 'ebtables-nft', save: 'ebtables-nft-save', restore: 'ebtables-nft-restore' }, expected: 2, present: 2, isolatedPorts: 2, problem: null },
    ingressFilter: { enabled: true, present: true, peers: 2, droppedPackets: 0, problem: null },
    probe: { enabled: false, family: null, address: null, port: null, intervalSeconds: null, keyed: false, problem: null, sent: 0, answered: 0, ignored: { malformed: 0, bad_key: 0, not_a_peer: 0, unexpected: 0, rate_limited: 0 } },
    lastReconcile: {
      at: '2025-01-02T03:04:10.000Z',
      durationMs: 42,
      trigger: 'config',
      changes: ['ip link add vxlan3 type vxlan id 2'],
      errors: [],
    },
    counters: { reconciles: 7, reconcileErrors: 1, driftRepairs: 2, configErrors: 0, changesApplied: 9 },
    ...over,
  };
}

function degradedReport(): StatusReport {
  return sampleReport({
    state: 'degraded',
    reasons: ['link to old3: device vxlan3 is missing'],
    links: [
      link({}),
      link({ peer: 'old3', peerId: 3, remote: '198.51.100.30', vni: 2, device: 'vxlan3', legacy: true, present: false, up: false, attached: false, mtu: null, rxBytes: 0, txBytes: 0, learnedMacs: 0, problem: 'device missing, retrying' }),
    ],
    config: { ...sampleReport().config, lastError: ['peers.yaml:4:7: peers[1].id: duplicate id 2'] },
  });
}

interface FakeControl extends MeshControl {
  calls: string[];
  report: StatusReport;
  nextResult: Partial<OperationResult>;
  failStatus: Error | null;
}

/** Only the daemon is faked; the server under test is the real one. */
function fakeControl(): FakeControl {
  const operation = (name: OperationResult['operation']) => async (): Promise<OperationResult> => {
    fake.calls.push(name);
    return { ok: true, operation: name, state: 'running', changes: [], errors: [], ...fake.nextResult };
  };
  const fake: FakeControl = {
    calls: [],
    report: sampleReport(),
    nextResult: {},
    failStatus: null,
    async status() {
      fake.calls.push('status');
      if (fake.failStatus) throw fake.failStatus;
      return fake.report;
    },
    start: operation('start'),
    stop: operation('stop'),
    restart: operation('restart'),
    reload: operation('reload'),
  };
  return fake;
}

/** A pino logger writing into an array, at trace level so nothing is filtered out. */
function memoryLogger() {
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

const METRIC_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?|NaN|[+-]Inf)$/;

describe('control API server', () => {
  let control: FakeControl;
  let app: FastifyInstance;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    control = fakeControl();
    log = memoryLogger();
    app = buildServer({ control, token: TOKEN, tokenPath: TOKEN_PATH, logger: log.logger });
    await app.ready();
  });

  afterEach(async () => {
    await app.close();
  });

  const post = (url: string, headers: Record<string, string> = {}, payload?: string) =>
    app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) });
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('GET /status returns the report as JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual(sampleReport());
  });

  it('GET /healthz is 200 when running', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, state: 'running' });
  });

  it('GET /healthz is 503 with the reasons when not running', async () => {
    control.report = degradedReport();
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ok: false, state: 'degraded', reasons: ['link to old3: device vxlan3 is missing'] });
  });

  it('GET /metrics serves the Prometheus text format', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = res.body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(samples.length).toBeGreaterThan(20);
    for (const line of samples) expect(line).toMatch(METRIC_LINE);
    expect(samples).toContain('vxmesh_up 1');
    expect(samples).toContain('vxmesh_link_up{peer="lxd2",device="vxlan2",vni="100001"} 1');
  });

  it('a failing status call answers 500 JSON and is logged', async () => {
    control.failStatus = new Error('kernel query failed');
    const res = await app.inject({ method: 'GET', url: '/status' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal error: kernel query failed' });
    expect(log.lines.join('')).toContain('kernel query failed');
  });

  describe('operations need the token', () => {
    it('401 without Authorization, naming the token file, and the control is not called', async () => {
      const res = await post('/start');
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toContain(TOKEN_PATH);
      expect(res.json().error).toContain('Authorization: Bearer');
      expect(control.calls).toEqual([]);
    });

    it('401 with a wrong token of the same or another length', async () => {
      const sameLength = TOKEN.slice(0, -1) + (TOKEN.endsWith('0') ? '1' : '0');
      for (const wrong of [sameLength, 'short', `${TOKEN}x`, TOKEN.toUpperCase()]) {
        const res = await post('/stop', { authorization: `Bearer ${wrong}` });
        expect(res.statusCode, wrong).toBe(401);
      }
      const basic = await post('/stop', { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` });
      expect(basic.statusCode).toBe(401);
      expect(control.calls).toEqual([]);
    });

    it('200 with the right token, and the operation runs once', async () => {
      for (const op of ['start', 'stop', 'restart', 'reload'] as const) {
        const res = await post(`/${op}`, auth);
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ ok: true, operation: op, state: 'running' });
      }
      expect(control.calls).toEqual(['start', 'stop', 'restart', 'reload']);
    });

    it('a failed operation answers 500 with its result', async () => {
      control.nextResult = { ok: false, state: 'degraded', errors: ['ebtables-restore: exit 1'] };
      const res = await post('/reload', auth);
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ ok: false, operation: 'reload', errors: ['ebtables-restore: exit 1'] });
    });

    it('accepts (and ignores) a small JSON body, also an empty one', async () => {
      const withBody = await post('/reload', { ...auth, 'content-type': 'application/json' }, '{}');
      const emptyJson = await post('/reload', { ...auth, 'content-type': 'application/json' }, '');
      expect([withBody.statusCode, emptyJson.statusCode]).toEqual([200, 200]);
    });
  });

  describe('DNS rebinding: only loopback Host headers', () => {
    const foreign = ['evil.example', 'evil.example:7789', '127.0.0.1.evil.example', 'localhost.evil.example', '10.0.0.1', '[::2]:7789', '0.0.0.0'];

    it.each(foreign)('rejects Host %s', async (host) => {
      const res = await app.inject({ method: 'GET', url: '/status', headers: { host } });
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toMatch(/loopback/);
    });

    it('rejects a foreign Host even with the right token, before calling the control', async () => {
      const res = await post('/stop', { ...auth, host: 'attacker.example' });
      expect(res.statusCode).toBe(403);
      expect(control.calls).toEqual([]);
    });

    const loopback = ['localhost', 'localhost:7789', 'LOCALHOST:7789', '127.0.0.1', '127.0.0.1:7789', '127.5.6.7:80', '[::1]', '[::1]:7789'];

    it.each(loopback)('accepts Host %s', async (host) => {
      const res = await app.inject({ method: 'GET', url: '/healthz', headers: { host } });
      expect(res.statusCode).toBe(200);
    });

    it('classifies Host headers', () => {
      expect(loopback.every(isLoopbackHostHeader)).toBe(true);
      expect(foreign.some(isLoopbackHostHeader)).toBe(false);
      expect(isLoopbackHostHeader('::1')).toBe(false); // unbracketed IPv6 is not a Host header
      expect(isLoopbackHostHeader('127.0.0.1:port')).toBe(false);
    });
  });

  it('never sends CORS headers, also not to a preflight', async () => {
    const origin = { origin: 'http://evil.example' };
    const responses = await Promise.all([
      app.inject({ method: 'GET', url: '/status', headers: origin }),
      app.inject({ method: 'GET', url: '/metrics', headers: origin }),
      app.inject({ method: 'POST', url: '/start', headers: { ...origin, ...auth } }),
      app.inject({ method: 'POST', url: '/start', headers: origin }),
      app.inject({
        method: 'OPTIONS',
        url: '/start',
        headers: { ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
      }),
      app.inject({ method: 'GET', url: '/nope', headers: origin }),
    ]);
    const preflight = responses[4]!;
    expect(preflight.statusCode).toBeGreaterThanOrEqual(400);
    for (const res of responses) {
      const cors = Object.keys(res.headers).filter((h) => h.toLowerCase().startsWith('access-control-'));
      expect(cors).toEqual([]);
    }
  });

  it('unknown routes are 404 JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/admin?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json().error).toMatch(/no such endpoint: GET \/admin/);
  });

  it('a known path with the wrong method is 405 with Allow', async () => {
    const getStart = await app.inject({ method: 'GET', url: '/start' });
    expect(getStart.statusCode).toBe(405);
    expect(getStart.headers.allow).toBe('POST');
    expect(getStart.json().error).toMatch(/GET is not allowed on \/start/);

    const postStatus = await post('/status', auth);
    expect(postStatus.statusCode).toBe(405);
    expect(postStatus.headers.allow).toBe('GET, HEAD');

    const deleteMetrics = await app.inject({ method: 'DELETE', url: '/metrics' });
    expect(deleteMetrics.statusCode).toBe(405);
    expect(control.calls).toEqual([]);
  });

  it('rejects a body over 16 KiB with 413 JSON, without running the operation', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(17 * 1024) });
    const res = await post('/reload', { ...auth, 'content-type': 'application/json' }, big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatch(/too large/);
    expect(control.calls).toEqual([]);
  });

  it('never logs the token or the Authorization header', async () => {
    await post('/start', auth);
    await post('/start', { authorization: `Bearer ${TOKEN}0` });
    await post('/reload', { ...auth, 'content-type': 'application/json' }, 'x'.repeat(20 * 1024));
    control.failStatus = new Error('boom');
    await app.inject({ method: 'GET', url: '/status', headers: auth });
    await app.inject({ method: 'GET', url: '/nope', headers: auth });

    const output = log.lines.join('');
    // The capture works: there are request lines, including the failed one.
    expect(log.lines.length).toBeGreaterThanOrEqual(5);
    expect(output).toContain('"statusCode":401');
    expect(output).toContain('boom');
    expect(output).not.toContain(TOKEN);
    expect(output).not.toContain(TOKEN.slice(0, 16));
    expect(output.toLowerCase()).not.toContain('bearer');
  });
});

function hasIpv6Loopback(): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.internal && a.family === 'IPv6' && a.address === '::1'));
}

describe('listenApi and the CLI client', () => {
  it('listens on loopback, answers the client, and the client explains when nothing listens', async () => {
    const control = fakeControl();
    const app = buildServer({ control, token: TOKEN, tokenPath: TOKEN_PATH });
    const { port } = await listenApi(app, { hosts: ['127.0.0.1', '::1'], port: 0 });
    const api = { host: '127.0.0.1', port };

    expect(await apiGet(api, '/status')).toEqual(sampleReport());
    expect(await apiPost(api, '/restart', TOKEN)).toMatchObject({ ok: true, operation: 'restart' });
    await expect(apiPost(api, '/restart', 'wrong')).rejects.toThrow(TOKEN_PATH);
    expect(control.calls).toEqual(['status', 'restart']);
    if (hasIpv6Loopback()) {
      // The second address shares the port and the routes.
      expect(await apiGet({ host: '::1', port }, '/healthz')).toEqual({ ok: true, state: 'running' });
    }

    await app.close();
    await expect(apiGet(api, '/status')).rejects.toThrow(`vxmesh daemon is not running (nothing listens on 127.0.0.1:${port})`);
    if (hasIpv6Loopback()) {
      await expect(apiGet({ host: '::1', port }, '/status')).rejects.toThrow(`nothing listens on [::1]:${port}`);
    }
  });

  it('closes a connection that never finishes its headers (slow loris), and caps connections', async () => {
    const app = buildServer({ control: fakeControl(), token: TOKEN, tokenPath: TOKEN_PATH });
    const { port, servers } = await listenApi(app, { hosts: ['127.0.0.1'], port: 0 });
    expect(servers.map((s) => s.maxConnections)).toEqual([API_LIMITS.maxConnections]);
    try {
      const started = Date.now();
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port }, () => socket.write('GET /status HTTP/1.1\r\nHost: localhost\r\n'));
        socket.on('error', () => undefined);
        socket.resume(); // read the 408 answer, or 'close' never comes
        socket.on('close', () => resolve(Date.now() - started));
        setTimeout(() => {
          socket.destroy();
          reject(new Error('the server kept a connection with half-sent headers open for 40 s'));
        }, 40_000).unref();
      });
      console.info(`half-sent headers: connection closed by the server after ${closedAfter} ms (headers timeout ${API_LIMITS.headersTimeoutMs} ms)`);
      expect(closedAfter).toBeGreaterThanOrEqual(API_LIMITS.headersTimeoutMs - 100);
    } finally {
      await app.close();
    }
  }, 60_000);

  it('an operation slower than every API timeout still gets its answer', async () => {
    const control = fakeControl();
    const slowMs = Math.max(API_LIMITS.requestTimeoutMs, API_LIMITS.headersTimeoutMs, API_LIMITS.keepAliveTimeoutMs) + 1500;
    const reload = control.reload.bind(control);
    control.reload = async () => {
      await new Promise((r) => setTimeout(r, slowMs));
      return reload();
    };
    const app = buildServer({ control, token: TOKEN, tokenPath: TOKEN_PATH });
    const { port } = await listenApi(app, { hosts: ['127.0.0.1'], port: 0 });
    try {
      expect(await apiPost({ host: '127.0.0.1', port }, '/reload', TOKEN)).toMatchObject({ ok: true, operation: 'reload' });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('refuses to listen on a non-loopback address', async () => {
    const app = buildServer({ control: fakeControl(), token: TOKEN, tokenPath: TOKEN_PATH });
    await expect(listenApi(app, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/loopback/);
    await app.close();
  });
});

describe('API token file', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vxmesh-token-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created at first start: 32 random bytes hex, mode 0600, in a new 0700 directory', async () => {
    const stateDir = join(dir, 'state');
    const first = await ensureToken(stateDir);
    expect(first.path).toBe(join(stateDir, 'api-token'));
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    expect(first.created).toBe(true);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await readFile(first.path, 'utf8')).trim()).toBe(first.token);
  });

  it('is reused on later starts', async () => {
    const first = await ensureToken(dir);
    const second = await ensureToken(dir);
    expect(second.token).toBe(first.token);
    expect(second.created).toBe(false);
    expect(await readToken(dir)).toBe(first.token);
  });

  it('has a looser mode tightened to 0600, keeping the token', async () => {
    const first = await ensureToken(dir);
    await chmod(first.path, 0o644);
    const again = await ensureToken(dir);
    expect(again.fixedMode).toBe(0o644);
    expect(again.token).toBe(first.token);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
  });

  it('is replaced when empty (a crash mid-write)', async () => {
    await writeFile(join(dir, 'api-token'), '', { mode: 0o600 });
    const token = await ensureToken(dir);
    expect(token.token).toMatch(/^[0-9a-f]{64}$/);
    expect(await readToken(dir)).toBe(token.token);
  });

  it('an existing state directory with 0755 is forced to 0700', async () => {
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { mode: 0o755 });
    await chmod(stateDir, 0o755);
    const first = await ensureToken(stateDir);
    expect(first.fixedDirMode).toBe(0o755);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    await chmod(stateDir, 0o755);
    expect((await ensureToken(stateDir)).fixedDirMode).toBe(0o755);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
  });

  it('a token file that is a symlink is never read through', async () => {
    const elsewhere = join(dir, 'elsewhere');
    await writeFile(elsewhere, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    const stateDir = join(dir, 'state');
    await mkdir(stateDir, { mode: 0o700 });
    await symlink(elsewhere, join(stateDir, 'api-token'));
    await expect(ensureToken(stateDir)).rejects.toThrow(/api-token: it is a symbolic link/);
    await expect(readToken(stateDir)).rejects.toThrow(/it is a symbolic link/);
    // The file behind it was not touched either (no chmod through the link).
    expect((await stat(elsewhere)).mode & 0o777).toBe(0o644);
  });

  it('accepts only 64 hex digits as a token: anything else is replaced by the daemon and refused by the CLI', async () => {
    for (const bad of ['hunter2\n', 'AB'.repeat(32), `${'ab'.repeat(32)} trailing`, `${'ab'.repeat(31)}\n`]) {
      await writeFile(join(dir, 'api-token'), bad, { mode: 0o600 });
      await expect(readToken(dir)).rejects.toThrow(/empty or malformed, not 64 hex digits/);
      const replaced = await ensureToken(dir);
      expect(replaced.created).toBe(true);
      expect(replaced.token).toMatch(/^[0-9a-f]{64}$/);
      expect(await readToken(dir)).toBe(replaced.token);
    }
  });

  it('readToken names the file when it is missing', async () => {
    await expect(readToken(join(dir, 'nowhere'))).rejects.toThrow(
      `cannot read the API token ${join(dir, 'nowhere', 'api-token')}: no such file`,
    );
  });
});

describe('the CLI sends the token only to loopback', () => {
  it('apiPost refuses a non-loopback address before connecting', async () => {
    for (const host of ['198.18.0.1', '::ffff:198.18.0.1', 'example.com', '0.0.0.0']) {
      await expect(apiPost({ host, port: 7789 }, '/stop', TOKEN)).rejects.toThrow(/^refusing to send the API token to .*: not a loopback address/);
    }
  });

  it('`vxmesh stop --api 198.18.0.1:7789` talks only to the Unix socket: no socket, not running (3)', async () => {
    const r = await runCliFromSource(['stop', '--api', '198.18.0.1:7789', '--state-dir', '/nonexistent-state-dir']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe(
      'vxmesh: vxmesh daemon is not running (no API socket at /nonexistent-state-dir/api.sock; a daemon started with another --state-dir or --run-dir has its socket there)',
    );
  });

  it('apiPost never sends the token to the Unix socket', async () => {
    await expect(apiPost({ socketPath: '/run/vxmesh/api.sock' }, '/stop', TOKEN)).rejects.toThrow(/^refusing to send the API token to \/run\/vxmesh\/api\.sock: the socket needs none/);
  });
});

describe('the API on a Unix socket', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vxmesh-sock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the run dir is /run/vxmesh with the default state dir, else the state dir, unless given', () => {
    expect(resolveRunDir('/var/lib/vxmesh', undefined)).toBe('/run/vxmesh');
    expect(resolveRunDir('/var/lib/vxmesh/', undefined)).toBe('/run/vxmesh');
    expect(resolveRunDir('/tmp/lab/ns1/state', undefined)).toBe('/tmp/lab/ns1/state');
    expect(resolveRunDir('/var/lib/vxmesh', '/run/other')).toBe('/run/other');
  });

  it('operations need no token on the socket (its file mode authenticates) and still need it on TCP', async () => {
    const control = fakeControl();
    const app = buildServer({ control, token: TOKEN, tokenPath: TOKEN_PATH });
    const listener = await listenLocal({ socketPath: join(dir, 'run', 'api.sock'), hosts: ['127.0.0.1'], port: 0, log: pino({ level: 'silent' }) });
    await serveOn(app, listener);
    try {
      const sock = { socketPath: listener.socketPath };
      expect((await stat(listener.socketPath)).mode & 0o777).toBe(0o600);
      expect((await stat(join(dir, 'run'))).mode & 0o777).toBe(0o700);
      expect(await apiOperation(sock, '/reload')).toMatchObject({ ok: true, operation: 'reload' });
      expect(await apiGet(sock, '/status')).toEqual(sampleReport());
      const tcp = { host: '127.0.0.1', port: listener.tcp!.port };
      const refused = await apiRequest(tcp, 'POST', '/reload', { 'content-length': '0' }, 5000);
      expect(refused.status).toBe(401);
      expect(control.calls).toEqual(['reload', 'status']);
    } finally {
      await app.close();
    }
    await expect(stat(listener.socketPath)).rejects.toThrow(/ENOENT/);
  });

  it('a second daemon with the same run dir fails; a socket left by a dead one is replaced', async () => {
    const log = pino({ level: 'silent' });
    const socketPath = join(dir, 'api.sock');
    const first = await listenLocal({ socketPath, hosts: ['127.0.0.1'], port: 0, log });
    await expect(listenLocal({ socketPath, hosts: ['127.0.0.1'], port: 0, log })).rejects.toThrow(
      `cannot listen on the API socket ${socketPath}: a vxmesh daemon already answers there`,
    );
    await first.close();
    // A SIGKILLed daemon leaves its socket file behind, with nobody answering on it.
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    const again = await listenLocal({ socketPath, hosts: ['127.0.0.1'], port: 0, log });
    await again.close();
  });

  it('a TCP port held by someone else: the socket still serves, and status says who holds what', async () => {
    const log = pino({ level: 'silent' });
    const squatter = (await import('node:http')).createServer((_q, r) => r.end('<html>hi</html>'));
    await new Promise<void>((r) => squatter.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (squatter.address() as { port: number }).port;
    const app = buildServer({ control: fakeControl(), token: TOKEN, tokenPath: TOKEN_PATH, apiProblems: () => listener.problems() });
    const listener = await listenLocal({ socketPath: join(dir, 'api.sock'), hosts: ['127.0.0.1'], port, log });
    await serveOn(app, listener);
    try {
      expect(listener.tcp).toBeNull();
      const s = statusAnswer(await apiGet({ socketPath: listener.socketPath }, '/status'), listener.socketPath);
      expect(s.state).toBe('degraded');
      expect(s.reasons).toContain(
        `API port ${port} is held by another process (not this daemon): whatever answers there is not vxmesh; the API is served on ${listener.socketPath} only (find the holder with \`ss -ltnp sport = :${port}\`)`,
      );
    } finally {
      await app.close();
      await new Promise<void>((r) => squatter.close(() => r()));
    }
  });

  it('takes a run dir that is root\'s symlink to a private directory (systemd DynamicUser= with RuntimeDirectoryPreserve=), refuses anyone else\'s', async () => {
    const target = join(dir, 'private-vxmesh');
    await mkdir(target, { mode: 0o700 });
    const link = join(dir, 'run-vxmesh');
    await symlink(target, link);
    if (process.getuid?.() === 0) {
      const l = await listenUnix(join(link, 'api.sock'));
      await l.close();
      await lchown(link, 65534, 65534);
      await expect(listenUnix(join(link, 'api.sock'))).rejects.toThrow(`refusing the API run directory ${link}: a symlink owned by uid 65534, not root`);
    } else {
      await expect(listenUnix(join(link, 'api.sock'))).rejects.toThrow(`refusing the API run directory ${link}: a symlink owned by uid ${process.getuid?.()}, not root`);
    }
  });

  it('refuses a run dir others can write', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(listenUnix(join(open, 'api.sock'))).rejects.toThrow(`refusing the API run directory ${open}: mode 0777 lets others replace the socket (make it 0700 or 0750)`);
  });
});

describe('answers the CLI accepts', () => {
  it('a web page, a wrong shape and a foreign JSON are errors naming what was found and where', () => {
    expect(() => statusAnswer('<!doctype html><html><body>It works</body></html>', '/run/vxmesh/api.sock')).toThrow(
      'the answer from /run/vxmesh/api.sock to GET /status is not a vxmesh status report: (the whole answer): expected an object, got the string "<!doctype html><html><body>It works</bod..."; found text "<!doctype html><html><body>It works</body></html>"',
    );
    expect(() => statusAnswer({ ...sampleReport(), links: undefined }, 'S')).toThrow(/^the answer from S to GET \/status is not a vxmesh status report: links: expected an array, got nothing; found JSON \{/);
    expect(() => operationAnswer({ hello: 'world' }, 'S', 'reload')).toThrow('the answer from S to POST /reload is not a vxmesh operation result: ok: expected a boolean, got nothing; found JSON {"hello":"world"}');
    expect(() => statusAnswer({ ...sampleReport(), links: [link({}), { ...link({}), vni: '7' }] }, 'S')).toThrow(/: links\[1\]\.vni: expected a number, got the string "7"; found JSON/);
    expect(() => statusAnswer({ ...sampleReport(), state: 'fine' }, 'S')).toThrow(/: state: expected one of running, degraded, stopped, got the string "fine"/);
    expect(statusAnswer(sampleReport(), 'S')).toEqual(sampleReport());
    expect(statusAnswer(sampleReport({ state: 'degraded', links: [link({ mtu: null, problem: 'down' })], lastReconcile: null }), 'S').state).toBe('degraded');
    expect(operationAnswer({ ok: true, operation: 'stop', state: 'stopped', changes: [], errors: [] }, 'S', 'stop').ok).toBe(true);
  });
});

describe('renderMetrics', () => {
  it('renders every family with HELP and TYPE, one-hot state, and escaped labels', () => {
    const report = sampleReport({
      state: 'degraded',
      links: [link({ peer: 'we"ird\\name\nx' })],
      config: { ...sampleReport().config, lastError: ['bad'] },
      lastReconcile: null,
    });
    const text = renderMetrics(report);
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) expect(line).toMatch(METRIC_LINE);

    expect(text).toContain('vxmesh_state{state="running"} 0\nvxmesh_state{state="degraded"} 1\nvxmesh_state{state="stopped"} 0\n');
    expect(text).toContain('vxmesh_up 0\n');
    expect(text).toContain('vxmesh_config_valid 0\n');
    expect(text).toContain('vxmesh_link_rx_bytes_total{peer="we\\"ird\\\\name\\nx",device="vxlan2"} 1258291\n');
    expect(text).toContain('# TYPE vxmesh_reconciles_total counter\nvxmesh_reconciles_total 7\n');
    expect(text).toContain('vxmesh_reconcile_errors_total 1\n');
    expect(text).toContain('vxmesh_drift_repairs_total 2\n');
    expect(text).toContain('vxmesh_loop_prevention_rules_expected 2\n');
    expect(text).toContain('vxmesh_ebtables_backend{backend="nft"} 1\n');
    expect(text).toContain(`vxmesh_build_info{version="9.8.7",nodejs="${process.version}"} 1\n`);
    // No reconcile yet: the family is declared but has no sample.
    expect(text).toContain('# TYPE vxmesh_last_reconcile_duration_seconds gauge\n');
    expect(text).not.toMatch(/^vxmesh_last_reconcile_duration_seconds /m);

    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    for (const name of [
      'vxmesh_links_desired', 'vxmesh_links_up', 'vxmesh_link_up', 'vxmesh_link_tx_bytes_total', 'vxmesh_link_rx_packets_total',
      'vxmesh_link_tx_packets_total', 'vxmesh_link_learned_macs', 'vxmesh_config_errors_total',
      'vxmesh_last_reconcile_timestamp_seconds', 'vxmesh_loop_prevention_rules_present',
    ]) {
      expect(names).toContain(name);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it('reports the mode, the flood list per peer and the multicast group', () => {
    const text = renderMetrics(floodListReport());
    expect(text).toContain('vxmesh_mode{mode="flood-list"} 1\nvxmesh_mode{mode="multicast"} 0');
    expect(text).toContain('vxmesh_flood_entries_expected 2\n');
    expect(text).toContain('vxmesh_flood_entries_present 1\n');
    expect(text).toContain('vxmesh_link_fdb_entry_present{peer="lxd3"} 0\n');
    const r = floodListReport();
    const mc = renderMetrics({ ...r, mode: 'multicast', device: { ...r.device!, floodEntries: null }, multicast: { group: '239.1.1.1', underlay: 'eth0', ttl: null, joined: true, warning: '' } });
    expect(mc).toContain('vxmesh_multicast_joined{group="239.1.1.1",underlay="eth0"} 1\n');
    expect(mc).not.toContain('vxmesh_flood_entries');
  });

  it('reports each segment: members, up, flood entries and traffic, labelled by segment and VNI', () => {
    const r = floodListReport();
    const seg = (name: string, vni: number, problem: string | null) => ({ name, vni, mtu: 1450, bridge: { name: `vxbr-${name}`, present: true, up: true, mtu: 1450 }, members: ['lxd2', 'lxd3'], device: { ...r.device!, name: `vx-${name}`, vni, problem }, multicast: null });
    const text = renderMetrics({ ...r, segments: [seg('prod', 1001, null), seg('stage', 1002, 'down')], links: r.links.map((l) => ({ ...l, segment: 'prod' })) });
    expect(text).toContain('vxmesh_segment_members{segment="prod",vni="1001"} 2\n');
    expect(text).toContain('vxmesh_segment_up{segment="prod",vni="1001"} 1\nvxmesh_segment_up{segment="stage",vni="1002"} 0\n');
    expect(text).toContain('vxmesh_segment_flood_entries_present{segment="stage",vni="1002"} 1\n');
    expect(text).toContain('vxmesh_segment_tx_bytes_total{segment="prod",vni="1001"} 2048\n');
    expect(text).toContain('vxmesh_link_fdb_entry_present{peer="lxd3",segment="prod"} 0\n');
  });

  it('reports encryption: the mode and implementation, clear VXLAN dropped each way, handshake age per peer', () => {
    const wg = { publicKey: 'abcdefgh…', endpoint: '198.51.100.20:51820', currentEndpoint: null, present: true, handshake: 'ok' as const, handshakeAgeSeconds: 42, rxBytes: 1, txBytes: 2, problem: null };
    const text = renderMetrics(sampleReport({
      links: [link({ peer: 'lxd2', wireguard: wg }), link({ peer: 'lxd3', wireguard: { ...wg, handshake: 'never', handshakeAgeSeconds: null } })],
      encryption: { mode: 'wireguard', implementation: 'userspace', device: 'vxwg0', present: true, publicKey: 'x', listenPort: 51820, tunnelAddress: '169.254.192.1/18', mtuChain: null, clearVxlanDropped: { input: 3, output: 4 }, wireguardPortDropped: 5, problem: null },
    }));
    expect(text).toContain('vxmesh_encryption{mode="none",implementation=""} 0\nvxmesh_encryption{mode="wireguard",implementation="userspace"} 1\n');
    expect(text).toContain('vxmesh_clear_vxlan_dropped_packets_total{direction="input"} 3\nvxmesh_clear_vxlan_dropped_packets_total{direction="output"} 4\n');
    expect(text).toContain('vxmesh_wireguard_port_dropped_packets_total 5\n');
    expect(text).toContain('vxmesh_wireguard_handshake_age_seconds{peer="lxd2"} 42\nvxmesh_wireguard_handshake_age_seconds{peer="lxd3"} -1\n');
    for (const line of text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))) expect(line).toMatch(METRIC_LINE);
  });

  it('reports the last reconcile in seconds', () => {
    const text = renderMetrics(sampleReport());
    expect(text).toContain('vxmesh_last_reconcile_duration_seconds 0.042\n');
    expect(text).toContain(`vxmesh_last_reconcile_timestamp_seconds ${Date.parse('2025-01-02T03:04:10.000Z') / 1000}\n`);
    expect(text).toContain('vxmesh_links_up 2\n');
  });
});

function floodListReport(): StatusReport {
  return sampleReport({
    mode: 'flood-list',
    device: { name: 'vxlan0', vni: 4242, present: true, up: true, attached: true, mtu: 1450, learning: true, rxBytes: 1024, txBytes: 2048, floodEntries: { expected: 2, present: 1 }, foreignFloodEntries: ['198.51.100.99'], problem: '1 of 2 flood-list entries missing' },
    loopPrevention: { mode: 'none', expected: 0, present: 0, problem: null },
    links: [
      link({ vni: 4242, device: 'vxlan0', fdbEntry: true, rxBytes: 0, txBytes: 0 }),
      link({ peer: 'lxd3', peerId: 3, remote: '198.51.100.30', vni: 4242, device: 'vxlan0', fdbEntry: false, learnedMacs: 0, problem: 'fdb entry missing' }),
    ],
  });
}

describe('renderStatusTable', () => {
  const now = new Date('2025-01-02T03:04:40.000Z');

  it('prints the header and one aligned row per link', () => {
    const out = renderStatusTable(sampleReport(), now);
    expect(out).toMatch(/^Node: +lxd1 \(vxmesh 9\.8\.7\)$/m);
    expect(out).toMatch(/^State: +running$/m);
    expect(out).toContain('peers.yaml, peers.d/10-node.yaml');
    expect(out).toMatch(/^Underlay: +eth0 198\.51\.100\.10, MTU 1500$/m);
    expect(out).toMatch(/^Bridge: +vxbr0 up, MTU 1450/m);
    expect(out).toMatch(/^Loop prevention: +ebtables \(backend nft: ebtables-nft\), 2\/2 rules present, 2 ports isolated$/m);
    expect(out).toMatch(/^Last reconcile: +2025-01-02T03:04:10.000Z \(30s ago\), took 42 ms, trigger config, 1 change, 0 errors$/m);

    const lines = out.split('\n');
    const headerIndex = lines.findIndex((l) => l.startsWith('PEER'));
    expect(lines[headerIndex]).toMatch(/^PEER +REMOTE +VNI +DEVICE +STATE +MTU +RX +TX +MACS +TUNNEL +RTT +LOSS +FULL +AGREE$/);
    const rows = lines.slice(headerIndex, headerIndex + 3);
    expect(rows[1]).toMatch(/^lxd2 +198\.51\.100\.20 +100001 +vxlan2 +up +1450 +1\.2 MiB +512 B +3 +- +- +- +- +-$/);
    expect(rows[2]).toMatch(/^old3 +198\.51\.100\.30 +2\* +vxlan3 +up +1450 +0 B +3\.0 GiB +12 +- +- +- +- +-$/);
    // Right-aligned last column: aligned rows have one length, and DEVICE starts in one column.
    expect(new Set(rows.map((r) => r.length)).size).toBe(1);
    expect(new Set(rows.map((r) => r.indexOf('vxlan') >= 0 ? r.indexOf('vxlan') : r.indexOf('DEVICE'))).size).toBe(1);
    expect(out).toContain('legacy');
  });

  it('shows why the mesh is degraded, the config error, and missing links', () => {
    const out = renderStatusTable(degradedReport(), now);
    expect(out).toMatch(/^State: +degraded\n +- link to old3: device vxlan3 is missing$/m);
    expect(out).toContain('error: peers.yaml:4:7: peers[1].id: duplicate id 2');
    expect(out).toMatch(/^old3 .* missing: device missing, retrying +- /m);
  });

  it('shows the one device, its flood list and the FDB column in flood-list mode', () => {
    const out = renderStatusTable(floodListReport(), now);
    expect(out).toMatch(/^Mode: +flood-list: vxlan0 vni 4242, up, MTU 1450, learning on, rx 1\.0 KiB, tx 2\.0 KiB: PROBLEM: 1 of 2 flood-list entries missing$/m);
    expect(out).toMatch(/^ +flood list: 1\/2 peers have their all-zero fdb entry$/m);
    expect(out).toMatch(/^ +flood entries not written by vxmesh \(left alone\): 198\.51\.100\.99$/m);
    expect(out).toMatch(/^Loop prevention: +not needed/m);
    expect(out).toMatch(/^PEER +REMOTE +VNI +DEVICE +STATE +FDB +MACS$/m);
    expect(out).toMatch(/^lxd2 +198\.51\.100\.20 +4242 +vxlan0 +up +present +3$/m);
    expect(out).toMatch(/^lxd3 +198\.51\.100\.30 +4242 +vxlan0 +fdb entry missing +missing +0$/m);
  });

  it('shows the group, whether it is joined and the routing warning in multicast mode', () => {
    const r = floodListReport();
    const out = renderStatusTable({ ...r, mode: 'multicast', device: { ...r.device!, floodEntries: null, foreignFloodEntries: [], problem: null }, multicast: { group: '239.1.1.1', underlay: 'eth0', ttl: 4, joined: false, warning: 'the underlay must route the group' } }, now);
    expect(out).toMatch(/^ +group 239\.1\.1\.1 on eth0, ttl 4: NOT joined$/m);
    expect(out).toMatch(/^ +note: the underlay must route the group$/m);
  });

  it('does not repeat the state in the problem text', () => {
    expect(linkState(link({ present: false, up: false, problem: 'missing' }))).toBe('missing');
    expect(linkState(link({ up: false, problem: 'down' }))).toBe('down');
    expect(linkState(link({ problem: 'VNI 5, want 100001' }))).toBe('VNI 5, want 100001');
    expect(linkState(link({ attached: false, problem: 'not attached to vxbr0' }))).toBe('not attached to vxbr0');
    expect(linkState(link({ up: false, problem: 'remote none, want 198.51.100.20' }))).toBe('down: remote none, want 198.51.100.20');
  });

  it('formats bytes for people', () => {
    expect([0, 512, 1024, 1_258_291, 50 * 1024 ** 2, 3 * 1024 ** 3].map(formatBytes)).toEqual([
      '0 B', '512 B', '1.0 KiB', '1.2 MiB', '50 MiB', '3.0 GiB',
    ]);
  });
});

describe('renderOperation', () => {
  it('says what happened and lists changes and errors', () => {
    const ok = renderOperation({ ok: true, operation: 'reload', state: 'running', changes: ['add vxlan4'], errors: [] });
    expect(ok).toBe('reload done; the mesh is running; 1 change:\n  add vxlan4\n');
    const failed = renderOperation({ ok: false, operation: 'start', state: 'degraded', changes: [], errors: ['ip: RTNETLINK answers: File exists'] });
    expect(failed).toContain('start FAILED; the mesh is degraded; nothing changed');
    expect(failed).toContain('1 error:\n  ip: RTNETLINK answers: File exists');
  });
});
