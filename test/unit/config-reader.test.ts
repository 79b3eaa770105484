import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { ConfigReader, configFingerprint, decodeSavedConfig, encodeSavedConfig, readSavedConfig, SAVED_SCHEMA, sourcesDigest } from '../../src/config/reader.js';

const PEERS = 'peers:\n  - { name: a, id: 1, address: "198.18.0.1" }\n  - { name: b, id: 2, address: "198.18.0.2" }\n';

describe('ConfigReader parses a directory again only when its files changed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vxmesh-reader-'));
    writeFileSync(join(dir, 'peers.yaml'), PEERS);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same result object for files that read the same', async () => {
    const reader = new ConfigReader(dir);
    const first = await reader.load();
    expect(first.ok).toBe(true);
    writeFileSync(join(dir, 'peers.yaml'), PEERS); // rewritten, same text
    expect(await reader.load()).toBe(first);
  });

  it('parses again when a text changes, a drop-in appears, or a read fails', async () => {
    const reader = new ConfigReader(dir);
    const first = await reader.load();
    writeFileSync(join(dir, 'peers.yaml'), PEERS.replace('198.18.0.2', '198.18.0.3'));
    const second = await reader.load();
    expect(second).not.toBe(first);
    expect(second.ok && second.config.peers[1]!.address).toBe('198.18.0.3');
    mkdirSync(join(dir, 'peers.d'));
    writeFileSync(join(dir, 'peers.d', 'c.yaml'), 'peers:\n  - { name: c, id: 3, address: "198.18.0.4" }\n');
    const third = await reader.load();
    expect(third.ok && third.config.peers.map((p) => p.name)).toEqual(['a', 'b', 'c']);
    rmSync(join(dir, 'peers.yaml'));
    const broken = await reader.load();
    expect(broken.ok).toBe(false);
    writeFileSync(join(dir, 'peers.yaml'), PEERS.replace('198.18.0.2', '198.18.0.3'));
    const back = await reader.load();
    expect(back).not.toBe(third); // parsed again after the failed read, not taken from before it
    expect(back.ok && back.config.peers.length).toBe(3);
  });

  it('takes an adopted config (saved by an earlier run) while the files read as they did then, and never for invalid files', async () => {
    const first = new ConfigReader(dir);
    const saved = await first.load();
    if (!saved.ok || first.digest === undefined) throw new Error('config should load');
    const copy = JSON.parse(JSON.stringify(saved.config)) as typeof saved.config; // as read back from the state directory
    const restarted = new ConfigReader(dir);
    restarted.adopt(first.digest, copy);
    const again = await restarted.load();
    expect(again.ok && again.config).toBe(copy);
    writeFileSync(join(dir, 'peers.yaml'), `# edited\n${PEERS}`);
    const edited = await restarted.load();
    expect(edited.ok && edited.config).not.toBe(copy);
    expect(restarted.digest).not.toBe(first.digest);
    const broken = new ConfigReader(dir);
    broken.adopt(first.digest, copy);
    writeFileSync(join(dir, 'peers.yaml'), 'peers:\n  - { name: a, id: 1 }\n');
    expect((await broken.load()).ok).toBe(false);
  });

  it('keeps an invalid result too, and its issues', async () => {
    writeFileSync(join(dir, 'peers.yaml'), 'peers:\n  - { name: a, id: 1 }\n');
    const reader = new ConfigReader(dir);
    const first = await reader.load();
    expect(first.ok).toBe(false);
    expect(await reader.load()).toBe(first);
  });
});

describe('digests', () => {
  it('tell a path from a text and file boundaries apart', () => {
    const d = (s: { path: string; text: string }[]) => sourcesDigest(s);
    expect(d([{ path: 'a', text: 'bc' }])).not.toBe(d([{ path: 'ab', text: 'c' }]));
    expect(d([{ path: 'a', text: 'b' }, { path: 'c', text: '' }])).not.toBe(d([{ path: 'a', text: 'bc' }]));
    expect(d([{ path: 'a', text: 'b' }])).toBe(d([{ path: 'a', text: 'b' }]));
  });

  it('a config fingerprint follows content, not identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-reader-'));
    try {
      writeFileSync(join(dir, 'peers.yaml'), PEERS);
      const a = await new ConfigReader(dir).load();
      const b = await new ConfigReader(dir).load();
      if (!a.ok || !b.ok) throw new Error('config should load');
      expect(a.config).not.toBe(b.config);
      expect(configFingerprint(a.config)).toBe(configFingerprint(b.config));
      expect(configFingerprint({ ...a.config, peers: a.config.peers.slice(1) })).not.toBe(configFingerprint(a.config));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the saved last good config has a schema and is validated again on load', () => {
  const sources = [{ path: '/etc/vxmesh/peers.yaml', text: PEERS }];
  const reason = (text: string) => {
    const r = decodeSavedConfig(text);
    return r.ok ? 'ok' : r.reason;
  };

  it('round-trips: the texts are parsed again, with the digest this program computes', () => {
    const text = encodeSavedConfig(sources, new Date('2026-01-02T03:04:05Z'));
    expect(JSON.parse(text)).toMatchObject({ schema: SAVED_SCHEMA, savedAt: '2026-01-02T03:04:05.000Z' });
    const r = decodeSavedConfig(text);
    if (!r.ok) throw new Error(r.reason);
    expect(r.saved.digest).toBe(sourcesDigest(sources));
    expect(r.saved.config.peers.map((p) => p.name)).toEqual(['a', 'b']);
    // The digest is recomputed, never read from the file.
    const forged = JSON.stringify({ ...JSON.parse(text), digest: 'f'.repeat(64) });
    expect(decodeSavedConfig(forged).ok && (decodeSavedConfig(forged) as { saved: { digest: string } }).saved.digest).toBe(sourcesDigest(sources));
  });

  it('refuses an older or unknown schema, a config that does not validate, and what is not a saved config, saying why', () => {
    // The first release's shape: a parsed config, no schema.
    expect(reason(JSON.stringify({ savedAt: '2026-01-01T00:00:00Z', digest: 'x', config: { peers: [], mesh: {} } }))).toMatch(/older version \(no schema/);
    expect(reason(JSON.stringify({ schema: 3, savedAt: '2026-01-01T00:00:00Z', sources }))).toMatch(/^schema 3, this version reads schema 2/);
    expect(reason(JSON.stringify({ schema: SAVED_SCHEMA, savedAt: '2026-01-01T00:00:00Z', sources: [{ path: '/etc/vxmesh/peers.yaml', text: PEERS.replace('198.18.0.2', '198.18.0.1') }] }))).toMatch(/does not validate: \/etc\/vxmesh\/peers\.yaml:\d+:\d+: /);
    expect(reason(JSON.stringify({ schema: SAVED_SCHEMA, savedAt: 'yesterday', sources }))).toMatch(/savedAt/);
    expect(reason(JSON.stringify({ schema: SAVED_SCHEMA, savedAt: '2026-01-01T00:00:00Z', sources: [{ path: 1 }] }))).toMatch(/sources/);
    expect(reason(JSON.stringify({ schema: SAVED_SCHEMA, savedAt: '2026-01-01T00:00:00Z', sources: [] }))).toMatch(/sources/);
    expect(reason('[1]')).toMatch(/not a saved config/);
    expect(reason('{"schema": 2')).toBe('not JSON');
  });

  it('reads the file like a config file: none, a FIFO and a directory are told apart, never block', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-saved-'));
    try {
      expect(await readSavedConfig(join(dir, 'last-good-config.json'))).toEqual({ ok: false, reason: 'none' });
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      expect(await readSavedConfig(join(dir, 'fifo'))).toMatchObject({ ok: false, reason: expect.stringMatching(/FIFO/) });
      writeFileSync(join(dir, 'good.json'), encodeSavedConfig(sources));
      expect((await readSavedConfig(join(dir, 'good.json'))).ok).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the reader keeps the texts it read, for saving', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-reader-'));
    try {
      writeFileSync(join(dir, 'peers.yaml'), PEERS);
      const reader = new ConfigReader(dir);
      await reader.load();
      expect(reader.sources).toEqual([{ path: join(dir, 'peers.yaml'), text: PEERS }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
