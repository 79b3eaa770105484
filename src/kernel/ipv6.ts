import { readFile } from 'node:fs/promises';
import type { Ipv6State } from '../model/state.js';

async function flag(name: string): Promise<boolean | undefined> {
  try {
    return (await readFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, 'utf8')).trim() === '1';
  } catch {
    return undefined;
  }
}

/** Reads three small files per bridge at most; no process is started. */
export async function readIpv6State(devices: string[]): Promise<Ipv6State> {
  const all = await flag('all');
  if (all === undefined) return { kernel: false, allDisabled: true, defaultDisabled: true, disabled: new Map() };
  const disabled = new Map<string, boolean>();
  for (const d of devices) {
    const v = await flag(d);
    if (v !== undefined) disabled.set(d, v);
  }
  return { kernel: true, allDisabled: all, defaultDisabled: (await flag('default')) ?? false, disabled };
}
