/**
 * GET /metrics: the status report in the Prometheus text exposition format
 * (version 0.0.4). Hand-written because the whole output is a few dozen
 * lines and a client library would be the project's largest dependency.
 */
import type { LinkStatus, MeshState, StatusReport } from '../daemon/status.js';
import { IGNORE_REASONS } from '../health/service.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type MetricType = 'gauge' | 'counter';
type Labels = Record<string, string | number>;

interface Sample {
  labels?: Labels;
  value: number;
}

interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const MESH_STATES: readonly MeshState[] = ['running', 'degraded', 'stopped'];

export function renderMetrics(status: StatusReport): string {
  const families = [...meshFamilies(status), ...encryptionFamilies(status), ...modeFamilies(status), ...linkFamilies(status.links), ...probeFamilies(status), ...reconcileFamilies(status)];
  return families.map(renderFamily).join('');
}

function meshFamilies(s: StatusReport): Family[] {
  return [
    {
      name: 'vxmesh_build_info',
      type: 'gauge',
      help: 'The running daemon\'s version (always 1).',
      samples: [{ labels: { version: s.version, nodejs: process.version }, value: 1 }],
    },
    gauge('vxmesh_up', 'Whether the mesh is running as configured (1) or not (0).', s.state === 'running' ? 1 : 0),
    {
      name: 'vxmesh_state',
      type: 'gauge',
      help: 'Current mesh state, one-hot over running, degraded and stopped.',
      samples: MESH_STATES.map((state) => ({ labels: { state }, value: s.state === state ? 1 : 0 })),
    },
    gauge('vxmesh_links_desired', 'Links this node should have, one per remote peer.', s.links.length),
    gauge('vxmesh_links_up', 'Links whose VXLAN device is present and up.', s.links.filter(isLinkUp).length),
    gauge('vxmesh_config_valid', 'Whether the config files on disk are valid (0 while the last good config stays applied).',
      s.config.lastError === null ? 1 : 0),
    gauge('vxmesh_config_warnings', 'Warnings about the current config, such as legacy links that only work through learning.',
      s.config.warnings.length),
    gauge('vxmesh_loop_prevention_rules_expected', 'Loop-prevention rules (or isolated ports) the mesh needs.',
      s.loopPrevention.expected),
    gauge('vxmesh_loop_prevention_rules_present', 'Loop-prevention rules (or isolated ports) found in the kernel.',
      s.loopPrevention.present),
    {
      name: 'vxmesh_ebtables_backend',
      type: 'gauge',
      help: 'The ebtables backend in use (probed at start): nft, legacy, or none when no backend works here.',
      samples: [{ labels: { backend: s.loopPrevention.backend?.name ?? 'none' }, value: 1 }],
    },
    gauge('vxmesh_ingress_filter_present', 'Whether the ingress filter table (inet vxmesh) is in place.', s.ingressFilter.present ? 1 : 0),
    {
      name: 'vxmesh_ingress_dropped_packets_total',
      type: 'counter',
      help: 'VXLAN packets dropped because they came from an address that is not a peer.',
      samples: [{ value: s.ingressFilter.droppedPackets }],
    },
  ];
}

const MODES: readonly StatusReport['mode'][] = ['per-peer', 'flood-list', 'multicast', 'evpn'];

/** The mesh mode, and the single device's flood list or multicast group when there is one. */
function modeFamilies(s: StatusReport): Family[] {
  const out: Family[] = [
    {
      name: 'vxmesh_mode',
      type: 'gauge',
      help: 'Configured mesh mode, one-hot over per-peer, flood-list, multicast and evpn.',
      samples: MODES.map((mode) => ({ labels: { mode }, value: s.mode === mode ? 1 : 0 })),
    },
  ];
  const flood = s.device?.floodEntries;
  if (flood) {
    out.push(
      gauge('vxmesh_flood_entries_expected', 'All-zero fdb entries (one per remote peer) the flood-list device needs.', flood.expected),
      gauge('vxmesh_flood_entries_present', 'All-zero fdb entries to peers found on the flood-list device.', flood.present),
      {
        name: 'vxmesh_link_fdb_entry_present',
        type: 'gauge',
        help: 'Whether the peer has its all-zero fdb entry on the flood-list device.',
        samples: s.links.map((l) => ({ labels: { peer: l.peer, ...(l.segment ? { segment: l.segment } : {}) }, value: l.fdbEntry ? 1 : 0 })),
      },
    );
  }
  if (s.evpn) out.push(...evpnFamilies(s.evpn));
  if (s.segments.length) out.push(...segmentFamilies(s.segments));
  if (s.multicast) {
    out.push({
      name: 'vxmesh_multicast_joined',
      type: 'gauge',
      help: 'Whether the multicast group is joined on the underlay device (ip maddr).',
      samples: [{ labels: { group: s.multicast.group, underlay: s.multicast.underlay }, value: s.multicast.joined ? 1 : 0 }],
    });
  }
  return out;
}

/** `segments:`: per segment, its members, its device, its flood list and its traffic. */
function segmentFamilies(segments: StatusReport['segments']): Family[] {
  const per = (name: string, type: MetricType, help: string, value: (g: StatusReport['segments'][number]) => number | null): Family => ({
    name,
    type,
    help,
    samples: segments.flatMap((g) => {
      const v = value(g);
      return v === null ? [] : [{ labels: { segment: g.name, vni: g.vni }, value: v }];
    }),
  });
  return [
    per('vxmesh_segment_members', 'gauge', 'Other members of the segment this node reaches.', (g) => g.members.length),
    per('vxmesh_segment_up', 'gauge', 'Whether the segment\'s device is present, attached to its bridge and up, with no problem.', (g) => (g.device.problem === null ? 1 : 0)),
    per('vxmesh_segment_flood_entries_expected', 'gauge', 'All-zero fdb entries the segment\'s flood-list device needs.', (g) => g.device.floodEntries?.expected ?? null),
    per('vxmesh_segment_flood_entries_present', 'gauge', 'All-zero fdb entries found on the segment\'s flood-list device.', (g) => g.device.floodEntries?.present ?? null),
    per('vxmesh_segment_rx_bytes_total', 'counter', 'Bytes received on the segment\'s VXLAN device.', (g) => g.device.rxBytes),
    per('vxmesh_segment_tx_bytes_total', 'counter', 'Bytes sent on the segment\'s VXLAN device.', (g) => g.device.txBytes),
  ];
}

/** control: evpn: sessions per neighbour, remote VTEPs and MACs behind each (from FRR). */
function evpnFamilies(e: NonNullable<StatusReport['evpn']>): Family[] {
  return [
    { name: 'vxmesh_bgp_session_established', type: 'gauge', help: 'Whether the EVPN BGP session to the neighbour is Established.', samples: e.sessions.map((x) => ({ labels: { neighbor: x.neighbor }, value: x.state === 'Established' ? 1 : 0 })) },
    { name: 'vxmesh_bgp_prefixes_received', type: 'gauge', help: 'EVPN routes received from the neighbour.', samples: e.sessions.flatMap((x) => (x.prefixesReceived === null ? [] : [{ labels: { neighbor: x.neighbor }, value: x.prefixesReceived }])) },
    gauge('vxmesh_evpn_remote_vteps', 'Remote VTEPs zebra knows for the VNI (from BGP type-3 routes).', e.vteps.length),
    { name: 'vxmesh_evpn_vtep_macs', type: 'gauge', help: 'Remote MACs behind the VTEP (BGP type-2 routes).', samples: e.vteps.map((t) => ({ labels: { vtep: t.address }, value: t.macs })) },
  ];
}

function linkFamilies(links: LinkStatus[]): Family[] {
  const byDevice = (l: LinkStatus): Labels => ({ peer: l.peer, device: l.device });
  const perLink = (name: string, type: MetricType, help: string, value: (l: LinkStatus) => number): Family => ({
    name,
    type,
    help,
    samples: links.map((l) => ({ labels: byDevice(l), value: value(l) })),
  });
  return [
    {
      name: 'vxmesh_link_up',
      type: 'gauge',
      help: 'Whether the link to a peer is present and up.',
      samples: links.map((l) => ({ labels: { ...byDevice(l), vni: l.vni }, value: isLinkUp(l) ? 1 : 0 })),
    },
    perLink('vxmesh_link_rx_bytes_total', 'counter', 'Bytes received on the link device.', (l) => l.rxBytes),
    perLink('vxmesh_link_tx_bytes_total', 'counter', 'Bytes sent on the link device.', (l) => l.txBytes),
    perLink('vxmesh_link_rx_packets_total', 'counter', 'Packets received on the link device.', (l) => l.rxPackets),
    perLink('vxmesh_link_tx_packets_total', 'counter', 'Packets sent on the link device.', (l) => l.txPackets),
    perLink('vxmesh_link_learned_macs', 'gauge', 'MAC addresses in the bridge forwarding table behind the link.',
      (l) => l.learnedMacs),
  ];
}

/**
 * The link-health probe, per probed link. A value not known yet (no answer so far) has no
 * sample rather than a made-up 0; `up` and the ignored-probe counter are always there.
 */
function probeFamilies(s: StatusReport): Family[] {
  const probed = s.links.filter((l) => l.health !== null);
  const per = (name: string, help: string, value: (l: LinkStatus) => number | null): Family => ({
    name,
    type: 'gauge',
    help,
    samples: probed.flatMap((l) => {
      const v = value(l);
      return v === null ? [] : [{ labels: { peer: l.peer, device: l.device }, value: v }];
    }),
  });
  const bit = (b: boolean | null | undefined): number | null => (b === null || b === undefined ? null : b ? 1 : 0);
  return [
    per('vxmesh_link_probe_up', 'Whether the peer answers probes through the tunnel (1) or not (0).', (l) => (l.health!.reachable === true ? 1 : 0)),
    per('vxmesh_link_probe_rtt_seconds', 'Round-trip time of the last answered small probe through the tunnel.', (l) => (l.health!.rttMs === null ? null : l.health!.rttMs / 1000)),
    per('vxmesh_link_probe_loss_ratio', 'Small probes lost over the last minute, 0 to 1.', (l) => l.health!.lossRatio),
    per('vxmesh_link_probe_full_size_pass', 'Whether a datagram filling the mesh MTU crosses the link (1) or not (0).', (l) => bit(l.health!.fullSizePass)),
    per('vxmesh_link_probe_agreement', 'Whether the peer runs the same VNI, MTU, port and config digests for this link (1) or not (0).', (l) => bit(l.health!.agreement)),
    {
      name: 'vxmesh_probe_ignored_total',
      type: 'counter',
      help: 'Probe datagrams ignored, by reason (malformed, bad_key, not_a_peer, unexpected answer, rate_limited).',
      samples: IGNORE_REASONS.map((reason) => ({ labels: { reason }, value: s.probe.ignored[reason] })),
    },
    counter('vxmesh_probe_sent_total', 'Probes sent through the overlay.', s.probe.sent),
    counter('vxmesh_probe_answered_total', 'Probe answers received in time.', s.probe.answered),
  ];
}

function reconcileFamilies(s: StatusReport): Family[] {
  const last = s.lastReconcile;
  const lastAt = last === null ? Number.NaN : Date.parse(last.at) / 1000;
  return [
    counter('vxmesh_reconciles_total', 'Reconciles run since the daemon started.', s.counters.reconciles),
    counter('vxmesh_reconcile_errors_total', 'Reconciles that ended with at least one error.', s.counters.reconcileErrors),
    counter('vxmesh_drift_repairs_total', 'Reconciles that repaired a change made outside vxmesh.', s.counters.driftRepairs),
    counter('vxmesh_config_errors_total', 'Config loads rejected as invalid.', s.counters.configErrors),
    counter('vxmesh_changes_applied_total', 'Kernel changes applied by reconciles.', s.counters.changesApplied),
    // No sample until the first reconcile: an absent series is clearer than a fake 0.
    optionalGauge('vxmesh_last_reconcile_duration_seconds', 'How long the last reconcile took.',
      last === null ? null : last.durationMs / 1000),
    optionalGauge('vxmesh_last_reconcile_timestamp_seconds', 'When the last reconcile ran, as a Unix time.',
      Number.isFinite(lastAt) ? lastAt : null),
  ];
}

function isLinkUp(l: LinkStatus): boolean {
  return l.present && l.up;
}

/** Encryption: the mode, the clear VXLAN dropped each way, and each WireGuard peer's handshake age. */
function encryptionFamilies(s: StatusReport): Family[] {
  const e = s.encryption;
  if (!e) return [];
  const out: Family[] = [
    {
      name: 'vxmesh_encryption',
      type: 'gauge',
      help: 'Encryption mode of the underlay, one-hot over none and wireguard (with the implementation in use).',
      samples: (['none', 'wireguard'] as const).map((mode) => ({ labels: { mode, implementation: mode === 'wireguard' ? (e.implementation ?? 'none') : '' }, value: e.mode === mode ? 1 : 0 })),
    },
    {
      name: 'vxmesh_clear_vxlan_dropped_packets_total',
      type: 'counter',
      help: 'Clear VXLAN packets dropped: arriving (input), and towards peers in encrypted mode (output: they would have left unencrypted).',
      samples: [{ labels: { direction: 'input' }, value: e.clearVxlanDropped.input }, { labels: { direction: 'output' }, value: e.clearVxlanDropped.output }],
    },
  ];
  if (e.mode !== 'wireguard') return out;
  out.push(
    counter('vxmesh_wireguard_port_dropped_packets_total', 'Packets to the WireGuard port from hosts that are not peers.', e.wireguardPortDropped),
    {
      name: 'vxmesh_wireguard_handshake_age_seconds',
      type: 'gauge',
      help: 'Seconds since the last WireGuard handshake with each peer (-1: never).',
      samples: s.links.filter((l) => l.wireguard).map((l) => ({ labels: { peer: l.peer }, value: l.wireguard!.handshakeAgeSeconds ?? -1 })),
    },
  );
  return out;
}

function gauge(name: string, help: string, value: number): Family {
  return { name, type: 'gauge', help, samples: [{ value }] };
}

function optionalGauge(name: string, help: string, value: number | null): Family {
  return { name, type: 'gauge', help, samples: value === null ? [] : [{ value }] };
}

function counter(name: string, help: string, value: number): Family {
  return { name, type: 'counter', help, samples: [{ value }] };
}

function renderFamily(f: Family): string {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  for (const sample of f.samples) {
    lines.push(`${f.name}${renderLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return lines.join('\n') + '\n';
}

function renderLabels(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabelValue(String(value))}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Label values escape backslash, double quote and newline. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and newline only. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
