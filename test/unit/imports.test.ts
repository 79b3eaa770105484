import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import graph of src/, read from the sources (type-only imports count: a type cycle is
 * still a tangle a reader has to hold in their head). Files and top-level folders must each
 * form a graph without cycles.
 */
const SRC = resolve('src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative specifiers of every `import ... from`, `export ... from` and `import('...')`. */
export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec?.startsWith('.')) out.push(spec);
  }
  return out;
}

function fileGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const deps = importSpecifiers(readFileSync(file, 'utf8')).map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

function folderGraph(files: Map<string, string[]>): Map<string, string[]> {
  const top = (f: string) => f.split('/')[0]!;
  const graph = new Map<string, Set<string>>();
  for (const [file, deps] of files) {
    const from = top(file);
    const set = graph.get(from) ?? new Set<string>();
    for (const d of deps) if (top(d) !== from) set.add(top(d));
    graph.set(from, set);
  }
  return new Map([...graph].map(([k, v]) => [k, [...v]]));
}

/** Every cycle found by depth-first search, each as the path that closes it. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import graph of src/', () => {
  const files = fileGraph();

  it('reads the imports it has to judge', () => {
    expect(files.size).toBeGreaterThan(30);
    expect(files.get('plan/plan.ts')).toContain('model/names.ts');
    expect(importSpecifiers(`import type { A } from './a.js';\nexport { b } from "../b.js";\nimport './side.js';\nconst m = await import('./lazy.js');`)).toEqual(['./a.js', '../b.js', './side.js', './lazy.js']);
  });

  it('every import names a file that exists', () => {
    const missing = [...files].flatMap(([f, deps]) => deps.filter((d) => !files.has(d)).map((d) => `${f} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('has no cycle between files', () => {
    expect(findCycles(files).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('has no cycle between folders', () => {
    expect(findCycles(folderGraph(files)).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('imports nothing from the lab (harness, benchmark, demo): src/ is only the product', () => {
    const out = [...files].flatMap(([f, deps]) => deps.filter((d) => d.startsWith('..')).map((d) => `${f} -> ${d}`));
    expect(out).toEqual([]);
  });
});
