/**
 * The segments a mesh has (docs/segments.md): the ones `segments:` lists, or the one segment a
 * mesh without it always had, under its old names (`mesh.bridge`, `mesh.device`, `mesh.vni`) and
 * aliases, so an upgrade changes nothing on the wire.
 */
import { BRIDGE_ALIAS, DEFAULT_SEGMENT, segmentAlias } from '../model/names.js';
import type { Config, Peer } from '../model/types.js';

export interface SegmentShape {
  name: string;
  vni: number;
  mtu: number;
  bridge: string;
  device: string;
  group: string | undefined;
  members: string[] | undefined;
  /** Its objects carry the scoped alias `vxmesh:<segment>:<role>:<role>` (a `segments:` entry). */
  scoped: boolean;
}

/** Pure: every segment of the config, in config order (one-device modes only). */
export function segmentsOf(config: Config): SegmentShape[] {
  const { mesh } = config;
  if (!config.segments) return [{ name: DEFAULT_SEGMENT, vni: mesh.vni!, mtu: mesh.mtu, bridge: mesh.bridge, device: mesh.device, group: mesh.group, members: undefined, scoped: false }];
  return config.segments.map((s) => ({ name: s.name, vni: s.vni, mtu: s.mtu, bridge: s.bridge, device: s.device, group: s.group, members: s.members, scoped: true }));
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
