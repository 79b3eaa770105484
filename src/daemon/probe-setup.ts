import type { Config } from '../model/types.js';
import type { DesiredState } from '../plan/desired.js';
import { computeConfigFacts } from '../health/agreement.js';
import type { ProbeSetup } from '../health/service.js';

/**
 * Pure: what the prober needs from the config and the desired state. Links to servers that
 * still run vxlansetup.sh are not probed: no daemon there answers. Without a desired state
 * (this reconcile could not compute one, e.g. observing the kernel failed) the prober keeps
 * what it probes: one failed observe must not wipe every link's health history.
 */
export function computeProbeSetup(config: Config, desired: DesiredState | undefined): ProbeSetup | undefined | 'keep' {
  const probe = config.mesh.probe;
  if (!probe.enabled) return undefined;
  if (!desired) return 'keep';
  const self = config.peers.find((p) => p.name === desired.node);
  if (!self) return undefined;
  const byName = new Map(config.peers.map((p) => [p.name, p]));
  return {
    bridge: config.mesh.bridge,
    selfId: self.id,
    selfName: self.name,
    port: probe.port,
    intervalMs: probe.intervalMs,
    keyFile: probe.keyFile,
    meshMtu: config.mesh.mtu,
    facts: computeConfigFacts(config),
    links: desired.links
      .filter((l) => !l.legacy)
      .map((l) => ({ peer: l.peer, peerId: l.peerId, vni: l.vni, remote: l.remote, remoteFamily: byName.get(l.peer)?.family ?? 4 })),
  };
}
