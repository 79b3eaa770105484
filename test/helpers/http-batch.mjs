// Runs HTTP requests from inside a namespace (the API listens on that namespace's loopback)
// and prints one JSON line with every response. Argument: JSON
// { base: "http://127.0.0.1:7789", requests: [{ method, path, headers }], concurrent: bool, probe: "/status" }
// With `probe`, GET probe is timed in a loop while the requests run.
import http from 'node:http';

const spec = JSON.parse(process.argv[2]);

function request(r) {
  return new Promise((resolve) => {
    const url = new URL(r.path, spec.base);
    const started = performance.now();
    const req = http.request(url, { method: r.method ?? 'GET', headers: r.headers ?? {}, timeout: 60000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body, ms: performance.now() - started, done: performance.now() }));
    });
    req.on('error', (e) => resolve({ status: 0, error: e.code ?? e.message, ms: performance.now() - started }));
    if (r.body) req.write(r.body);
    req.end();
  });
}

let probing = Boolean(spec.probe);
const probeTimes = [];
const prober = (async () => {
  while (probing) {
    const r = await request({ path: spec.probe });
    probeTimes.push(r.ms);
  }
})();

let results;
if (spec.concurrent) results = await Promise.all(spec.requests.map(request));
else {
  results = [];
  for (const r of spec.requests) results.push(await request(r));
}
probing = false;
await prober;
process.stdout.write(JSON.stringify({ results, probeTimes }) + '\n');
