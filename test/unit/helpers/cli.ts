import { resolve } from 'node:path';
import { execa } from 'execa';

/**
 * Runs `vxmesh ARGS` from the TypeScript sources (vite-node comes with vitest): the unit suite
 * needs no build, as any user.
 */
export function runCliFromSource(args: string[]) {
  return execa(resolve('node_modules/.bin/vite-node'), [resolve('src/cli/main.ts'), ...args], { reject: false, timeout: 60_000 });
}
