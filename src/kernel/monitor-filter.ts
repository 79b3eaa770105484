/**
 * Which `ip monitor link address` lines matter to vxmesh. A container host makes and deletes
 * veths all day, and each one is a link event and an IPv6 link-local address event: none of
 * them is vxmesh's business. An event matters when it names an interface vxmesh owns or wants
 * (its devices, the bridge, the underlay), or when a routable address appears or goes anywhere
 * (the underlay address may move to another interface). Pure: the monitor feeds it lines.
 */

/** `12: vxlan2@eth0: <...>` (link), `12: eth0    inet 198.18.0.1/24 ...` (address), `Deleted ...`. */
const RECORD_HEAD = /^(?:Deleted )?\d+: ([^\s:@]+)(?:@\S*?)?:?\s+(.*)$/;

export class IpMonitorFilter {
  /** Undefined: not known yet (no reconcile has read the kernel), so every record matters. */
  private watched: ReadonlySet<string> | undefined;

  /** The interface names whose events matter from now on; undefined for all of them. */
  watch(names: Iterable<string> | undefined): void {
    this.watched = names === undefined ? undefined : new Set(names);
  }

  /** Whether this line starts a record that matters (continuation lines belong to their head). */
  matters(line: string): boolean {
    if (line === '' || /^\s/.test(line)) return false;
    const m = RECORD_HEAD.exec(line);
    // A line of a shape not known here is not ignored: a missed event costs a repair.
    if (!m) return true;
    if (this.watched === undefined || this.watched.has(m[1]!)) return true;
    const rest = m[2]!;
    return /^inet6? /.test(rest) && !/\bscope link\b/.test(rest);
  }
}
