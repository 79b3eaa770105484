import type { Config } from '../model/types.js';
import type { DesiredState } from '../plan/desired.js';
import { computeConfigFacts } from '../health/agreement.js';
import type { ProbeSetup } from '../health/service.js';

/**
 * Pure: what the prober needs from the config and the desired state. Links to servers that
 * still run vxlansetup.sh are not probed: no daemon there answers. Without a desired state
 * because the kernel could not be read (`observed` false) the prober keeps what it probes:
 * one failed observe must not wipe every link's health history. Without one while the kernel
 * was read (this server is not in the config, or waits for its address) probing stops.
 */
export function computeProbeSetup(config: Config, desired: DesiredState | undefined, observed = true): ProbeSetup | undefined | 'keep' {
  const probe = config.mesh.probe;
  if (!probe.enabled) return undefined;
  if (!desired) return observed ? undefined : 'keep';
  const self = config.peers.find((p) => p.name === desired.node);
  if (!self) return undefined;
  const byName = new Map(config.peers.map((p) => [p.name, p]));
  // With segments the probes run through one of them (segments.ts); a host outside it probes nothing.
  if (!desired.probe) return undefined;
  const bridge = desired.probe.bridge;
  const inProbeSegment = (l: DesiredState['links'][number]) => l.segment === undefined || desired.segments.find((g) => g.name === l.segment)?.bridge.name === bridge;
  return {
    bridge,
    selfId: self.id,
    selfName: self.name,
    port: probe.port,
    intervalMs: probe.intervalMs,
    keyFile: probe.keyFile,
    meshMtu: desired.segments.find((g) => g.bridge.name === bridge)?.bridge.mtu ?? config.mesh.mtu,
    facts: computeConfigFacts(config),
    links: desired.links
      .filter((l) => !l.legacy && inProbeSegment(l))
      // Encrypted links reach the remote by its tunnel address, which is IPv4 whatever the underlay.
      .map((l) => ({ peer: l.peer, peerId: l.peerId, vni: l.vni, remote: l.remote, remoteFamily: l.endpoint !== undefined ? 4 : (byName.get(l.peer)?.family ?? 4) })),
  };
}
