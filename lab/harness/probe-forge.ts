/**
 * Sends crafted link-health probe datagrams from inside a namespace: what a container on the
 * bridge could send. Used by the namespace tests as
 * `ip netns exec NS node dist-lab/lab/harness/probe-forge.js SPEC`, SPEC being JSON:
 * { from: "fe80::c1%eth0", to: "fe80::7678:0:0:1%eth0", port: 7790, key?: "text",
 *   messages: [{ raw?: "hex" } | { kind, seq, sender, target, info? }] }
 */
import { createSocket } from 'node:dgram';
import { encodeProbe, type EncodeInput } from '../../src/health/wire.js';

interface Spec {
  from: string;
  to: string;
  port: number;
  key?: string;
  messages: (EncodeInput | { raw: string })[];
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const sock = createSocket({ type: spec.to.includes(':') ? 'udp6' : 'udp4' });
sock.bind({ address: spec.from, port: 0 }, () => {
  const key = spec.key === undefined ? undefined : Buffer.from(spec.key, 'utf8');
  let left = spec.messages.length;
  for (const m of spec.messages) {
    const buf = 'raw' in m ? Buffer.from(m.raw, 'hex') : encodeProbe(m, key);
    sock.send(buf, spec.port, spec.to, (err) => {
      if (err) console.error(err.message);
      if (--left === 0) sock.close();
    });
  }
});
