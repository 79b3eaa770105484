// The lab harness lives in lab/harness so the demo and the benchmark use the same code.
export * from '../../lab/harness/netns-lab.js';
export { BENCH_JS, HOLD_CONNECTIONS_JS, HTTP_BATCH_JS } from '../../lab/harness/paths.js';
