import { ensurePrivateKey, readPublicKey } from '../keys/private-key.js';
import { EXIT } from './exit-codes.js';

/**
 * `vxmesh keygen`: make this server's WireGuard key if it has none (never replaces one: peers
 * know this server by its public key), then print the public key. `vxmesh pubkey`: print it.
 * The private key is never printed.
 */
export async function keyCommand(verb: 'keygen' | 'pubkey', stateDir: string): Promise<number> {
  if (verb === 'pubkey') {
    process.stdout.write(`${(await readPublicKey(stateDir)).publicKey}\n`);
    return EXIT.ok;
  }
  const k = await ensurePrivateKey(stateDir);
  process.stderr.write(k.created ? `made ${k.path} (0600); add this public key to this server's peer entry as public_key:\n` : `${k.path} exists and is kept; its public key:\n`);
  if (k.fixedMode !== null) process.stderr.write(`tightened ${k.path} from ${k.fixedMode.toString(8)} to 600\n`);
  process.stdout.write(`${k.publicKey}\n`);
  return EXIT.ok;
}
