import { execaSync } from 'execa';
import { LAB_PREFIX } from './lab.js';

/** Namespace tests need root, the tools and a built CLI: fail loudly when they are not there. */
export function setup(): void {
  const missing = ['ip', 'bridge', 'ebtables', 'ebtables-save', 'ebtables-restore', 'nft', 'ping', 'iperf3'].filter((t) => execaSync('sh', ['-c', `command -v ${t}`], { reject: false }).exitCode !== 0);
  if (missing.length) throw new Error(`namespace tests need ${missing.join(', ')} (Debian: apt-get install iproute2 ebtables nftables iputils-ping iperf3)`);
  if (process.getuid?.() !== 0) throw new Error('namespace tests must run as root (they create network namespaces)');
  sweep();
}

export function teardown(): void {
  sweep();
}

/** Remove lab namespaces left by a crashed earlier run (only ours: the vxt prefix). */
function sweep(): void {
  const list = execaSync('ip', ['netns', 'list'], { reject: false }).stdout;
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0];
    const pid = new RegExp(`^${LAB_PREFIX}(\\d+)x\\d+`).exec(name ?? '')?.[1];
    if (name && pid && !alive(Number(pid))) execaSync('ip', ['netns', 'del', name], { reject: false });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
