import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The probe's wire format, version 1. Fixed 32-byte header, an optional small JSON body
 * (responses only), an optional HMAC-SHA256, then zero padding up to the datagram's size.
 *
 *   0  4  magic "VXMP"           12  4  sequence number
 *   4  1  version (1)            16  8  sender peer id
 *   5  1  type (1 req, 2 resp)   24  8  target peer id
 *   6  1  flags (bit 0: MAC)     32  n  body (n = body length), UTF-8 JSON
 *   7  1  reserved (0)           32+n 32 HMAC-SHA256 over bytes 0..32+n, when flagged
 *   8  2  body length            ...     padding (zeros), not interpreted
 *  10  2  datagram length (so padding cannot be added or cut under a MAC)
 *
 * Nothing in it is secret: containers on the bridge can read every probe.
 *
 * The probe protocol (what the body says and how it is compared) is versioned apart from the
 * header: protocol 1 is the first release's (a request carries nothing more; its parser takes
 * exactly the fields below and no other). From protocol 2 a request carries a 4-byte tag
 * "VP" + uint16 protocol right after its header and MAC, where protocol 1 sees only padding;
 * a responder answers a tagged request with the extra fields (`protocol`, `agree`) and an
 * untagged one in the protocol 1 shape, so both versions understand each other during a
 * rolling upgrade. Parsers from protocol 2 on ignore body fields they do not know.
 */

export const WIRE_VERSION = 1;
/** The probe protocol this program speaks (see above). */
export const WIRE_PROTOCOL = 2;
export const TAG_BYTES = 4;
const TAG = Buffer.from('VP', 'latin1');
export const HEADER_BYTES = 32;
export const MAC_BYTES = 32;
/** A response body stays far below the smallest mesh MTU; anything larger is malformed. */
export const MAX_BODY_BYTES = 1024;
export const MAX_DATAGRAM_BYTES = 65_000;
const MAGIC = Buffer.from('VXMP', 'latin1');
const FLAG_MAC = 1;

export type ProbeKind = 'request' | 'response';

/** What a responder says about itself and its side of the link. */
export const probeInfoSchema = z
  .object({
    node: z.string().max(63),
    version: z.string().max(32),
    /** The VNI the responder uses for its link to the requester (null: it has no such link). */
    vni: z.number().int().min(0).max(0xffffff).nullable(),
    mtu: z.number().int().min(0).max(65535),
    port: z.number().int().min(0).max(65535),
    peers: z.number().int().min(0).max(1_000_000),
    peersDigest: z.string().regex(/^[0-9a-f]{16}$/),
    meshDigest: z.string().regex(/^[0-9a-f]{16}$/),
    /** Protocol 2 on; absent: the responder speaks protocol 1. */
    protocol: z.number().int().min(1).max(65535).optional(),
    /** The settings both ends must share, by name (an explicit list, see agreement.ts). */
    agree: z.record(z.string().max(40), z.union([z.string().max(64), z.number(), z.boolean(), z.null()])).optional(),
  })
  // Unknown fields are a newer protocol's: dropped, not an error (protocol 1 refused them).
  .strip();

export type ProbeInfo = z.infer<typeof probeInfoSchema>;

export interface ProbeMessage {
  kind: ProbeKind;
  seq: number;
  sender: number;
  target: number;
  info?: ProbeInfo;
  /** Whether the message carried a MAC that verified with our key. */
  authenticated: boolean;
  /** Whether it carried a MAC at all (verified or not: without a key of our own we cannot tell). */
  signed: boolean;
  /** The probe protocol the sender speaks: a request's tag; 1 without one. */
  protocol: number;
}

export type ParseFailure = 'malformed' | 'bad_key';
export type ParseResult = { ok: true; message: ProbeMessage } | { ok: false; reason: ParseFailure; detail: string };

export interface EncodeInput {
  kind: ProbeKind;
  seq: number;
  sender: number;
  target: number;
  info?: ProbeInfo;
  /** Total datagram size; the message is padded with zeros up to it. */
  size?: number;
}

/** The smallest datagram a message takes: header, body and MAC. */
export function minimumSize(info: ProbeInfo | undefined, key: Buffer | undefined): number {
  return HEADER_BYTES + (info ? Buffer.byteLength(JSON.stringify(info)) : 0) + (key ? MAC_BYTES : 0);
}

/**
 * A random sequence number for each probe: a container on the bridge that sees no probe
 * (it cannot, between two hosts) cannot guess which answer would be taken.
 */
export function randomSeq(): number {
  return randomInt(0, 2 ** 32);
}

/** `protocol`: tag a request with it (protocol 1 requests carry no tag). */
export function encodeProbe(m: EncodeInput, key: Buffer | undefined, protocol = 1): Buffer {
  const body = m.info ? Buffer.from(JSON.stringify(m.info), 'utf8') : Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) throw new RangeError(`probe body of ${body.length} bytes is over ${MAX_BODY_BYTES}`);
  const tagged = m.kind === 'request' && protocol > 1;
  const used = HEADER_BYTES + body.length + (key ? MAC_BYTES : 0) + (tagged ? TAG_BYTES : 0);
  const size = Math.max(used, m.size ?? 0);
  if (size > MAX_DATAGRAM_BYTES) throw new RangeError(`probe of ${size} bytes is over ${MAX_DATAGRAM_BYTES}`);
  const buf = Buffer.alloc(size);
  MAGIC.copy(buf, 0);
  buf.writeUInt8(WIRE_VERSION, 4);
  buf.writeUInt8(m.kind === 'request' ? 1 : 2, 5);
  buf.writeUInt8(key ? FLAG_MAC : 0, 6);
  buf.writeUInt16BE(body.length, 8);
  buf.writeUInt16BE(size, 10);
  buf.writeUInt32BE(m.seq >>> 0, 12);
  buf.writeBigUInt64BE(BigInt(m.sender), 16);
  buf.writeBigUInt64BE(BigInt(m.target), 24);
  body.copy(buf, HEADER_BYTES);
  if (key) mac(key, buf.subarray(0, HEADER_BYTES + body.length)).copy(buf, HEADER_BYTES + body.length);
  if (tagged) {
    const at = HEADER_BYTES + body.length + (key ? MAC_BYTES : 0);
    TAG.copy(buf, at);
    buf.writeUInt16BE(protocol, at + 2);
  }
  return buf;
}

/**
 * Parse a datagram. Bounded: fixed offsets, a body of at most MAX_BODY_BYTES checked by a
 * strict schema. With a key, a message without a valid MAC is refused (`bad_key`).
 */
export function parseProbe(buf: Buffer, key: Buffer | undefined): ParseResult {
  const bad = (detail: string): ParseResult => ({ ok: false, reason: 'malformed', detail });
  if (buf.length < HEADER_BYTES) return bad(`${buf.length} bytes, shorter than the header`);
  if (!buf.subarray(0, 4).equals(MAGIC)) return bad('no VXMP magic');
  const version = buf.readUInt8(4);
  if (version !== WIRE_VERSION) return bad(`version ${version}, expected ${WIRE_VERSION}`);
  const type = buf.readUInt8(5);
  if (type !== 1 && type !== 2) return bad(`type ${type}`);
  const flags = buf.readUInt8(6);
  if ((flags & ~FLAG_MAC) !== 0 || buf.readUInt8(7) !== 0) return bad('unknown flags');
  const bodyLength = buf.readUInt16BE(8);
  const total = buf.readUInt16BE(10);
  if (total !== buf.length) return bad(`length field ${total}, datagram ${buf.length}`);
  if (bodyLength > MAX_BODY_BYTES) return bad(`body of ${bodyLength} bytes`);
  const hasMac = (flags & FLAG_MAC) !== 0;
  const end = HEADER_BYTES + bodyLength + (hasMac ? MAC_BYTES : 0);
  if (end > buf.length) return bad('body or MAC runs past the datagram');
  const sender = buf.readBigUInt64BE(16);
  const target = buf.readBigUInt64BE(24);
  if (sender > BigInt(Number.MAX_SAFE_INTEGER) || target > BigInt(Number.MAX_SAFE_INTEGER)) return bad('peer id out of range');

  let authenticated = false;
  if (key) {
    if (!hasMac) return { ok: false, reason: 'bad_key', detail: 'no MAC, and a mesh key is set' };
    const want = mac(key, buf.subarray(0, HEADER_BYTES + bodyLength));
    const got = buf.subarray(HEADER_BYTES + bodyLength, end);
    if (!timingSafeEqual(want, got)) return { ok: false, reason: 'bad_key', detail: 'MAC does not verify with our key' };
    authenticated = true;
  }

  const kind: ProbeKind = type === 1 ? 'request' : 'response';
  // The tag sits in what protocol 1 calls padding; zeros there (or no room) mean protocol 1.
  const tagged = kind === 'request' && end + TAG_BYTES <= buf.length && buf.subarray(end, end + 2).equals(TAG);
  const protocol = tagged ? Math.max(1, buf.readUInt16BE(end + 2)) : 1;
  const message: ProbeMessage = { kind, seq: buf.readUInt32BE(12), sender: Number(sender), target: Number(target), authenticated, signed: hasMac, protocol };
  if (kind === 'response') {
    if (bodyLength === 0) return bad('response without a body');
    let json: unknown;
    try {
      json = JSON.parse(buf.subarray(HEADER_BYTES, HEADER_BYTES + bodyLength).toString('utf8'));
    } catch {
      return bad('body is not JSON');
    }
    const info = probeInfoSchema.safeParse(json);
    if (!info.success) return bad(`body: ${info.error.issues[0]?.path.join('.') ?? ''} ${info.error.issues[0]?.message ?? 'invalid'}`.trim());
    message.info = info.data;
  } else if (bodyLength !== 0) {
    return bad('request with a body');
  }
  return { ok: true, message };
}

function mac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
