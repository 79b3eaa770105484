import type { Location } from '../model/types.js';

/** One problem in the config, located where an editor can jump to it. */
export interface ConfigIssue extends Location {
  field: string;
  message: string;
}

/** Where each `mesh.*` key was set (a key left at its default is absent). */
export type MeshLocations = Record<string, Location>;

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.field ? `${i.field}: ` : ''}${i.message}`;
}
