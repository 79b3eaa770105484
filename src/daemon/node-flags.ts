/**
 * Node flags the daemon runs with (systemd/vxmesh.service passes the same; a test checks).
 * A 1 MB young generation instead of 16 MB cuts an idle daemon's resident memory by about
 * a fifth (measured: 102 -> 83 MB with 64 remotes) for a few more, tiny, scavenges.
 * No old-space cap: a cap would turn a large ebtables mesh into an out-of-memory crash loop.
 */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'];
