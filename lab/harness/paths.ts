import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found by walking up from this file: the harness runs as TypeScript
 * (lab/harness/*.ts, under vitest) and compiled (dist-lab/lab/harness/*.js), at different depths.
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'lab'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`lab: no repository root above ${fileURLToPath(import.meta.url)}`);
}

export const ROOT = findRoot();
/** The product's compiled CLI (`npm run build`). */
export const CLI = join(ROOT, 'dist/cli/main.js');
/** The lab's compiled programs (`npm run build:lab`). */
export const LAB_DIST = join(ROOT, 'dist-lab/lab');
export const BENCH_JS = join(LAB_DIST, 'bench/bench.js');
export const HTTP_BATCH_JS = join(LAB_DIST, 'harness/http-batch.js');
export const HOLD_CONNECTIONS_JS = join(LAB_DIST, 'harness/hold-connections.js');
export const DEMO_JS = join(LAB_DIST, 'demo/demo.js');
