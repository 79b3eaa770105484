/** `vxmesh status` lines for the EVPN control plane: sessions, the VNI, remote VTEPs and their MACs. */
import type { EvpnStatus } from '../evpn/status.js';

export function evpnLines(e: EvpnStatus | null | undefined, field: (label: string, value: string, more?: string[]) => string[]): string[] {
  if (!e) return [];
  const up = e.sessions.filter((x) => x.state === 'Established').length;
  const sessions = e.sessions.map((x) => `${x.neighbor}: ${x.state}${x.uptimeMs !== null ? ` ${Math.round(x.uptimeMs / 1000)} s` : ''}${x.prefixesReceived !== null ? `, ${x.prefixesReceived} routes received` : ''}`);
  const head = `${up}/${e.sessions.length} BGP sessions established${e.pathspace ? ` (FRR pathspace ${e.pathspace})` : ''}${e.problem ? `; problem: ${e.problem}` : ''}`;
  const vni = e.vni ? [`VNI ${e.vni.vni} on ${e.vni.device ?? '?'}: ${e.vni.remoteVteps} remote VTEPs, ${e.vni.localMacs} local MACs`] : [];
  const vteps = e.vteps.map((t) => `VTEP ${t.address} (from BGP${t.peer ? `, peer ${t.peer}` : ''}): ${t.macs} MACs`);
  const silent = e.silentPeers.length ? [`not heard from in BGP: ${e.silentPeers.join(', ')}`] : [];
  return field('Control plane', `evpn: ${head}`, [...sessions, ...vni, ...vteps, ...silent]);
}
