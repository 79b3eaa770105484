import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigReader, configFingerprint, sourcesDigest } from '../../src/config/reader.js';

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
