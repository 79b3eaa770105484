import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** The lab (namespace harness, benchmark, demo) is built into dist-lab/ and never shipped. */
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('what ships', () => {
  it('the product build compiles src/ only, into dist/; the lab builds into dist-lab/', () => {
    const product = JSON.parse(read('tsconfig.json')) as { include: string[]; compilerOptions: { rootDir: string; outDir: string } };
    expect(product.include).toEqual(['src']);
    expect(product.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' });
    expect(read('lab/tsconfig.json')).toMatch(/"outDir": "\.\.\/dist-lab"/);
  });

  it('package.json files and bin carry no lab code', () => {
    const pkg = JSON.parse(read('package.json')) as { files: string[]; bin: Record<string, string> };
    expect(pkg.files.length).toBeGreaterThan(0);
    for (const f of [...pkg.files, ...Object.values(pkg.bin)]) expect(f, f).not.toMatch(/^(lab|dist-lab|test)\b/);
  });

  it('the install and pack scripts copy no lab code', () => {
    for (const script of ['scripts/install.sh', 'scripts/pack.sh']) {
      const lists = [...read(script).matchAll(/^for item in (.*); do$/gm)].map((m) => m[1]!.split(' '));
      expect(lists.length, script).toBeGreaterThan(0);
      for (const item of lists.flat()) expect(item, script).not.toMatch(/^(lab|dist-lab|test)$/);
    }
  });
});
