import { execaSync } from 'execa';
import { TEST_PREFIX, sweepDeadNamespaces } from './lab.js';

/** Namespace tests need root, the tools and a built CLI: fail loudly when they are not there. */
export function setup(): void {
  // ebtables-nft* (package iptables) is what the daemon uses here; ebtables-legacy* (package
  // ebtables) is what the tests of a legacy-first host put first in PATH.
  const tools = ['ip', 'bridge', 'ebtables-nft', 'ebtables-nft-save', 'ebtables-nft-restore', 'ebtables-legacy', 'ebtables-legacy-save', 'ebtables-legacy-restore', 'nft', 'ping', 'iperf3'];
  const missing = tools.filter((t) => execaSync('sh', ['-c', `command -v ${t}`], { reject: false }).exitCode !== 0);
  if (missing.length) throw new Error(`namespace tests need ${missing.join(', ')} (Debian: apt-get install iproute2 iptables ebtables nftables iputils-ping iperf3)`);
  if (process.getuid?.() !== 0) throw new Error('namespace tests must run as root (they create network namespaces)');
  sweep();
}

export function teardown(): void {
  sweep();
}

/** Remove lab namespaces left by a crashed earlier run (only ours: the vxt prefix). */
function sweep(): void {
  sweepDeadNamespaces(new RegExp(`^${TEST_PREFIX}(\\d+)x\\d+`));
}
