import { formatIssue, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/model/types.js';

/** Three peers a, b, c on 198.18.0.1-3: the peers: section most unit tests start from. */
export const PEERS = `peers:
  - { name: a, id: 1, address: 198.18.0.1 }
  - { name: b, id: 2, address: 198.18.0.2 }
  - { name: c, id: 3, address: 198.18.0.3 }
`;

/** A valid config from one peers.yaml text; throws with the errors when it is not valid. */
export function config(text: string): Config {
  const r = parseConfig([{ path: '/etc/vxmesh/peers.yaml', text }]);
  if (!r.ok) throw new Error(r.issues.map(formatIssue).join('\n'));
  return r.config;
}
