import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Namespace tests share the machine's two cores; keep them from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
