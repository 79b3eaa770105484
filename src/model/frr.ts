/** FRR as vxmesh reads it (control: evpn). Plain data, shared by kernel/, evpn/, plan/ and daemon/. */

/** One config line and the contexts it sits in (`router bgp 65000`, then an address family). */
export interface FrrLine {
  context: string[];
  line: string;
}

/** A running config read with `show running-config`: its lines with their contexts. */
export interface FrrRunning {
  lines: FrrLine[];
  /** The AS of the default VRF's BGP instance, if there is one. */
  asn: number | undefined;
}

/** FRR as vtysh sees it: which daemons answer, and their running config. */
export interface FrrState {
  /** False when vtysh cannot be run or reaches no daemon. */
  reachable: boolean;
  error: string | undefined;
  /** The daemons vtysh is connected to (`show daemons`): zebra and bgpd are needed. */
  daemons: string[];
  running: FrrRunning | undefined;
}
