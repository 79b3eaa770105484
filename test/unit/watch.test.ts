import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchConfig } from '../../src/daemon/watch.js';

describe('config watcher', () => {
  it('an error from the watcher (ENOSPC: out of inotify watches) is handed over, not thrown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxmesh-watch-'));
    const errors: unknown[] = [];
    const watcher = watchConfig(dir, () => undefined, (err) => errors.push(err));
    try {
      const enospc = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });
      // What chokidar does when fs.watch fails for a new file.
      expect(() => watcher.emit('error', enospc)).not.toThrow();
      expect(errors).toEqual([enospc]);
    } finally {
      await watcher.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
