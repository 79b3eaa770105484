/**
 * Runs HTTP requests from inside a network namespace (the API listens on that namespace's
 * loopback) and prints one JSON line with every response. Used by the tests and the
 * benchmark as `ip netns exec NS node dist-lab/lab/harness/http-batch.js SPEC`, where SPEC is JSON:
 * { base: "http://127.0.0.1:7789", requests: [{ method, path, headers }], concurrent, probe }
 * With `probe`, GET probe is timed in a loop while the requests run.
 */
import http from 'node:http';

export interface BatchRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
}

export interface BatchSpec {
  base: string;
  requests: BatchRequest[];
  concurrent?: boolean;
  probe?: string;
}

export interface BatchResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
  /** When the response completed (performance.now() of this process): gives completion order. */
  done: number;
  error?: string;
}

function request(base: string, r: BatchRequest): Promise<BatchResponse> {
  return new Promise((resolve) => {
    const url = new URL(r.path, base);
    const started = performance.now();
    const req = http.request(url, { method: r.method ?? 'GET', headers: r.headers ?? {}, timeout: 60_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - started, done: performance.now() }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: '', error: e.code ?? e.message, ms: performance.now() - started, done: performance.now() }));
    req.end();
  });
}

async function main(spec: BatchSpec): Promise<void> {
  let probing = Boolean(spec.probe);
  const probeTimes: number[] = [];
  const prober = (async () => {
    // Bounded: at most 10,000 probes, and it stops when the requests are done.
    for (let i = 0; probing && i < 10_000; i++) probeTimes.push((await request(spec.base, { path: spec.probe! })).ms);
  })();
  let results: BatchResponse[];
  if (spec.concurrent) results = await Promise.all(spec.requests.map((r) => request(spec.base, r)));
  else {
    results = [];
    for (const r of spec.requests) results.push(await request(spec.base, r));
  }
  probing = false;
  await prober;
  process.stdout.write(JSON.stringify({ results, probeTimes }) + '\n');
}

await main(JSON.parse(process.argv[2] ?? '{}') as BatchSpec);
