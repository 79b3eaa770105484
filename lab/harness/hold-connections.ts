/**
 * Opens many idle TCP connections and holds them: a local user trying to exhaust the
 * daemon's file descriptors through its API. Run inside a namespace as
 * `node dist-lab/lab/harness/hold-connections.js SPEC` with SPEC = { host, port, count, holdMs }.
 * Prints `{"ready":true,"open":N,"failed":M}` when every attempt has settled, keeps the
 * connections until stdin closes or holdMs passes (bounded either way), then exits.
 */
import { connect, type Socket } from 'node:net';

interface HoldSpec {
  host: string;
  port: number;
  count: number;
  holdMs: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as HoldSpec;
const sockets: Socket[] = [];
let open = 0;
let failed = 0;
let closedByPeer = 0;

function attempt(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: spec.host, port: spec.port });
    s.once('connect', () => {
      open++;
      sockets.push(s);
      resolve();
    });
    s.once('error', () => {
      failed++;
      resolve();
    });
    s.on('close', () => {
      if (sockets.includes(s)) closedByPeer++;
    });
  });
}

// 50 at a time: the listen backlog is bounded too.
for (let done = 0; done < spec.count; done += 50) {
  await Promise.all(Array.from({ length: Math.min(50, spec.count - done) }, attempt));
}
// Let the server act on what it accepted (a capped server closes the extra ones at once).
await new Promise((r) => setTimeout(r, 500));
process.stdout.write(JSON.stringify({ ready: true, open, failed, closedByPeer }) + '\n');
await new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, spec.holdMs);
  process.stdin.on('end', () => {
    clearTimeout(timer);
    resolve();
  });
  process.stdin.resume();
});
process.stdout.write(JSON.stringify({ done: true, open, failed, closedByPeer }) + '\n');
for (const s of sockets) s.destroy();
process.exit(0);
