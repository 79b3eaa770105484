/**
 * The segments a mesh has (docs/segments.md): the ones `segments:` lists, or the one segment a
 * mesh without it always had, under its old names (`mesh.bridge`, `mesh.device`, `mesh.vni`) and
 * aliases, so an upgrade changes nothing on the wire.
 */
import { BRIDGE_ALIAS, DEFAULT_SEGMENT, segmentAlias } from '../model/names.js';
import type { Config, Peer, Segment } from '../model/types.js';

/** A segment as planning needs it; `scoped`: its objects carry `vxmesh:<segment>:<role>:<role>` (a `segments:` entry). */
export type SegmentShape = Omit<Segment, 'where'> & { scoped: boolean };

/** Pure: every segment of the config, in config order (one-device modes only). */
export function segmentsOf(config: Config): SegmentShape[] {
  const { mesh } = config;
  if (!config.segments) return [{ name: DEFAULT_SEGMENT, vni: mesh.vni!, mtu: mesh.mtu, bridge: mesh.bridge, device: mesh.device, group: mesh.group, members: undefined, scoped: false }];
  return config.segments.map(({ where: _where, ...s }) => ({ ...s, scoped: true }));
}

/** Whether `peer` is a member of `segment`. */
export function spans(segment: SegmentShape, peer: Peer): boolean {
  return !segment.members || segment.members.includes(peer.name);
}

export function bridgeAlias(segment: SegmentShape): string {
  return segment.scoped ? segmentAlias(segment.name, 'bridge') : BRIDGE_ALIAS;
}

/**
 * Link-health probes run in one segment: the first in config order (the mesh's one segment
 * without `segments:`). Both ends must probe through the same bridge, and a rule that needs
 * nothing but the shared file gives that.
 */
export function probeSegment(config: Config): string {
  return segmentsOf(config)[0]!.name;
}
