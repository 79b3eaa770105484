import { z } from 'zod';
import { canonicalAddress } from './address.js';
import { PEER_NAME } from '../model/names.js';
import { keyProblem, parseCidr4 } from '../model/wireguard.js';

// Interface names: what the kernel accepts (<= 15 bytes, no '/', ':' or white space).
const ifname = z
  .string()
  .min(1)
  .max(15, 'must be at most 15 characters (the kernel limit for interface names)')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, "_", "." and "-"');

const address = z.string().refine((s) => canonicalAddress(s) !== undefined, {
  message: 'is not an IPv4 or IPv6 address',
});

// Names end up in device aliases and log lines; keep them to a safe alphabet.
const peerName = z
  .string()
  .regex(PEER_NAME, 'must be 1-63 characters: letters, digits, "_", "." or "-", starting with a letter or digit');

/** `mesh.probe`: the link-health probe through the overlay (see docs/health.md). */
export const probeSchema = z
  .object({
    enabled: z.boolean().optional(),
    /** Seconds between probe rounds (each round is jittered by +-20%). */
    interval: z.number().min(0.2, 'must be at least 0.2 (seconds)').max(600, 'must be at most 600 (seconds)').optional(),
    port: z.number().int().min(1).max(65535).optional(),
    key_file: z.string().regex(/^\//, 'must be an absolute path').optional(),
  })
  .strict();

/** `mesh.wireguard`: the encrypted underlay's settings (docs/encryption.md). */
export const wireguardSchema = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    device: ifname.optional(),
    tunnel_range: z.string().refine((s) => parseCidr4(s) !== undefined, { message: 'must be an IPv4 network in CIDR form with the host bits zero and a prefix of at most /30 (e.g. 169.254.192.0/18)' }).optional(),
  })
  .strict();

/** `mesh.bgp`: the BGP EVPN control plane (`control: evpn`), rendered into FRR (docs/evpn.md). */
export const bgpSchema = z
  .object({
    // Each is optional in a fragment (a server's drop-in may add only its pathspace); the merged config needs asn and neighbors.
    asn: z.number().int().min(1).max(4_294_967_295, 'must fit 32 bits (at most 4294967295)').optional(),
    router_id: z.string().refine((s) => canonicalAddress(s) !== undefined && !s.includes(':'), { message: 'must be an IPv4 address (a BGP router id is 32 bits)' }).optional(),
    neighbors: z.array(address).min(1, 'needs at least one neighbor (a route reflector or a peer)').optional(),
    /** FRR's pathspace (`-N`): its sockets under /var/run/frr/<name>/; default: the one FRR of the host. */
    frr_pathspace: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'may contain only letters, digits, "_", "." and "-" (at most 64)').optional(),
  })
  .strict();

export const meshSchema = z
  .object({
    bridge: ifname.optional(),
    mtu: z.number().int().min(1280).max(65000).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    vni_base: z.number().int().min(0).max(0xffffff).optional(),
    loop_prevention: z.enum(['ebtables', 'isolated']).optional(),
    ingress_filter: z.boolean().optional(),
    probe: probeSchema.optional(),
    /** The same setting as `probe.key_file`, under the name the issue gave it. */
    probe_key_file: z.string().regex(/^\//, 'must be an absolute path').optional(),
    mode: z.enum(['per-peer', 'flood-list', 'multicast']).optional(),
    vni: z.number().int().min(1).max(0xffffff, 'must fit 24 bits (at most 16777215)').optional(),
    device: ifname.optional(),
    group: address.optional(),
    ttl: z.number().int().min(1).max(255).optional(),
    encryption: z.enum(['none', 'wireguard']).optional(),
    wireguard: wireguardSchema.optional(),
    control: z.enum(['static', 'evpn']).optional(),
    bgp: bgpSchema.optional(),
  })
  .strict();

export const peerSchema = z
  .object({
    name: peerName,
    id: z.number().int().min(0).max(9_999_999_999),
    address,
    dev: ifname.optional(),
    public_key: z.string().superRefine((s, ctx) => {
      const why = keyProblem(s);
      if (why) ctx.addIssue({ code: 'custom', message: why });
    }).optional(),
    legacy: z.object({ remotes: z.array(address).min(1) }).strict().optional(),
  })
  .strict();

/** One entry of `segments:` (docs/segments.md). Names go into aliases: the peer-name alphabet. */
export const segmentSchema = z
  .object({
    name: peerName,
    vni: z.number().int().min(1).max(0xffffff, 'must fit 24 bits (at most 16777215)'),
    mtu: z.number().int().min(1280).max(65000).optional(),
    bridge: ifname.optional(),
    device: ifname.optional(),
    group: address.optional(),
    peers: z.array(peerName).min(1, 'needs at least one peer (leave peers: out for a segment that spans every peer)').optional(),
  })
  .strict();

/** One file: peers.yaml or a peers.d fragment. Every part is optional in a fragment. */
export const fileSchema = z
  .object({
    mesh: meshSchema.optional(),
    node: peerName.optional(),
    peers: z.array(peerSchema).optional(),
    segments: z.array(segmentSchema).optional(),
  })
  .strict();

export type FileContent = z.infer<typeof fileSchema>;
