const n = +process.argv[2];
let s = "mesh: { mode: flood-list, vni: 42 }\npeers:\n"; for (let i = 1; i <= n; i++) s += `  - { name: p${i}, id: ${i}, address: 198.18.${i >> 8}.${i & 255} }\n`;
const { parseConfig } = await import('/work/main/dist/config/load.js');
const t = performance.now(); const r = parseConfig([{ path: 'peers.yaml', text: s }]); console.log(n, r.ok, (performance.now() - t).toFixed(1), 'ms');
