// The lab harness lives in src/lab so the demo and the benchmark use the same code.
export * from '../../src/lab/netns-lab.js';
