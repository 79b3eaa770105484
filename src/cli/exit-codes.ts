/** Exit codes of every verb, as `vxmesh --help` lists them. */
export const EXIT = {
  ok: 0,
  /** The mesh is degraded or stopped, an operation failed, the config is invalid, doctor found a problem. */
  failure: 1,
  usage: 2,
  /** Nothing answers on the API address: the daemon is not running (LSB's "program is not running"). */
  notRunning: 3,
} as const;
