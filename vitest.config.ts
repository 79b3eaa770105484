import { defineConfig } from 'vitest/config';

/**
 * Two suites. `unit`: pure logic, parsers on captured output, the planner, the scheduler on a
 * fake clock, reconcile against a strict fake runner; runs as any user, without root or the
 * network tools (`npm run test:unit`). `netns`: the real kernel in network namespaces, and the
 * install tests; needs root, iproute2, ebtables, nft, ping and iperf3, and fails loudly without.
 * `npm test` runs both. `systemd`: the packaged unit under real systemd, in a Debian root booted
 * by ../shared/tools/debian-root (`npm run test:systemd`; CI runs it after `npm test`).
 */
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Namespace tests share the machine's two cores; keep them from starving each other.
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      { extends: true, test: { name: 'netns', include: ['test/netns/**/*.test.ts', 'test/install/**/*.test.ts'], globalSetup: ['test/helpers/global-setup.ts'] } },
      { extends: true, test: { name: 'systemd', include: ['test/systemd/**/*.test.ts'], globalSetup: ['test/helpers/global-setup.ts'] } },
    ],
  },
});
