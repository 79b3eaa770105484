/**
 * The ebtables commands vxmesh runs. Two backends exist: the nf_tables one (`ebtables-nft*`,
 * Debian's `iptables` package) works on every current kernel; the legacy one needs legacy
 * xtables in the kernel. kernel/ebtables-backend.ts probes which works here.
 */
export interface EbtablesBackend {
  name: 'nft' | 'legacy';
  ebtables: string;
  save: string;
  restore: string;
}

/** What the probe found: the backend to use, or why there is none and what to do. */
export interface EbtablesChoice {
  backend: EbtablesBackend | undefined;
  /** Set when no backend works: every candidate's error, and the fix. */
  problem: string | undefined;
}
