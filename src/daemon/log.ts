/**
 * The daemon's logger: pino JSON lines on stdout. Under systemd, with stdout connected to the
 * journal, each line starts with its syslog priority (`<3>` error ...), the sd-daemon
 * convention journald strips and stores as the entry's PRIORITY, so `journalctl -u vxmesh
 * -p err` finds errors. In a terminal or a pipe, lines stay plain JSON.
 */
import { fstatSync } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

/** pino level -> syslog priority: fatal crit(2), error err(3), warn warning(4), info info(6), debug/trace debug(7). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it connected stdout/stderr to
 * (systemd.exec(5)). It is inherited by children whose stdout goes elsewhere, so the variable
 * alone proves nothing: stdout's own device and inode must match.
 */
export function isJournalStream(journalStream: string | undefined, fd = 1): boolean {
  if (!journalStream) return false;
  const m = /^(\d+):(\d+)$/.exec(journalStream.trim());
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

const LEVEL_AT_START = /^\{"level":(\d+)/;

/** "<6>" for a pino line (the level is its first field), "" for anything else. */
export function journalPrefix(line: string): string {
  const m = LEVEL_AT_START.exec(line);
  return m ? `<${syslogPriority(Number(m[1]))}>` : '';
}

/** A destination that puts the priority prefix before each line it is given. */
export function journalDestination(out: { write(s: string): unknown }): DestinationStream {
  return { write: (line: string) => void out.write(journalPrefix(line) + line) };
}

export function createDaemonLogger(level: string, env: NodeJS.ProcessEnv = process.env): Logger {
  const options = { base: { service: 'vxmesh' }, level };
  // Synchronous writes, as pino's default stdout destination: a crash loses no line.
  const stdout = pino.destination({ dest: 1, sync: true });
  return isJournalStream(env.JOURNAL_STREAM) ? pino(options, journalDestination(stdout)) : pino(options, stdout);
}
