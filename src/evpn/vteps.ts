import { compareAddr, type IngressDesired, type LinkInfo } from '../model/state.js';

/**
 * The remote VTEPs zebra has installed on the EVPN device: its all-zero fdb entries, one per
 * VTEP that advertised the VNI (type-3 routes). vxmesh only reads them: zebra owns them.
 */
export function learnedVteps(device: LinkInfo | undefined): string[] {
  return [...new Set(device?.defaultDsts ?? [])].sort(compareAddr);
}

/**
 * The ingress filter of an EVPN mesh: the configured peers and every VTEP that BGP taught
 * zebra. A VTEP joins the filter at the reconcile its fdb entry triggers (bridge monitor).
 */
export function withVteps(ingress: IngressDesired, vteps: string[]): IngressDesired {
  const add = (have: string[], v6: boolean) => [...new Set([...have, ...vteps.filter((v) => v.includes(':') === v6)])].sort(compareAddr);
  return { ...ingress, peers4: add(ingress.peers4, false), peers6: add(ingress.peers6, true) };
}
