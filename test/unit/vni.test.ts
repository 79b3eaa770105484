import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linkVni, pairVni } from '../../src/model/vni.js';
import type { Peer } from '../../src/model/types.js';

const peer = (id: number, address: string, legacy?: string[]): Peer => ({
  name: `p${id}`,
  id,
  address,
  family: 4,
  ...(legacy ? { legacy: { remotes: legacy } } : {}),
  where: { field: '', item: { file: '', line: 1, col: 1 }, name: { file: '', line: 1, col: 1 }, id: { file: '', line: 1, col: 1 }, address: { file: '', line: 1, col: 1 }, remotes: [], publicKey: { file: '', line: 1, col: 1 } },
});

describe('pair VNI', () => {
  it('follows base + j*(j-1)/2 + i', () => {
    expect(pairVni(1, 2, 100000)).toBe(100002);
    expect(pairVni(1, 3, 100000)).toBe(100004);
    expect(pairVni(2, 3, 100000)).toBe(100005);
    expect(pairVni(0, 1, 0)).toBe(0);
  });

  it('is the same from both ends', () => {
    for (let a = 0; a < 40; a++) for (let b = 0; b < 40; b++) if (a !== b) expect(pairVni(a, b, 7)).toBe(pairVni(b, a, 7));
  });

  it('gives every pair a different VNI (so every link on a host differs)', () => {
    const seen = new Map<number, string>();
    for (let j = 1; j < 200; j++) {
      for (let i = 0; i < j; i++) {
        const v = pairVni(i, j, 100000);
        expect(seen.get(v), `pair ${i}-${j}`).toBeUndefined();
        seen.set(v, `${i}-${j}`);
      }
    }
    expect(seen.size).toBe((200 * 199) / 2);
  });

  it('does not change when a peer is added: every existing link of every host keeps its VNI', () => {
    const addr = (id: number) => `198.18.0.${id}`;
    const before = [1, 2, 3, 5, 7].map((id) => peer(id, addr(id)));
    const after = [...before, peer(8, addr(8)), peer(50, addr(50)), peer(4, addr(4))];
    const vnis = (peers: Peer[]) => new Map(peers.flatMap((self) => peers.filter((p) => p !== self).map((p) => [`${self.id}-${p.id}`, linkVni(self, p, 100000)] as const)));
    const was = vnis(before);
    const now = vnis(after);
    expect(was.size).toBe(20);
    for (const [pair, vni] of was) expect(now.get(pair), pair).toBe(vni);
    // The new links got numbers of their own.
    const old = new Set(was.values());
    expect([...now].filter(([pair]) => !was.has(pair)).every(([, v]) => !old.has(v))).toBe(true);
  });
});

describe('link VNI with legacy peers', () => {
  it('uses the legacy peer index of our address, from both ends', () => {
    const modern = peer(1, '198.18.0.1');
    const old = peer(3, '198.18.0.3', ['198.18.0.2', '198.18.0.1']);
    expect(linkVni(modern, old, 100000)).toBe(1);
    expect(linkVni(old, modern, 100000)).toBe(1);
  });

  it('has no link when the legacy list does not name us', () => {
    expect(linkVni(peer(1, '198.18.0.1'), peer(3, '198.18.0.3', ['198.18.0.2']), 100000)).toBeUndefined();
  });
});

describe('docs/vni.md', () => {
  it('gives the numbers the rule gives', () => {
    const text = readFileSync(new URL('../../docs/vni.md', import.meta.url), 'utf8');
    const examples = [...text.matchAll(/(\d+)–(\d+) is (\d{6,})/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as const);
    expect(examples.length).toBe(3);
    for (const [a, b, vni] of examples) expect(pairVni(a, b, 100000), `link ${a}-${b}`).toBe(vni);
  });
});
