import { closeSync, fstatSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { isJournalStream, journalDestination, journalPrefix, syslogPriority } from '../../src/daemon/log.js';

const dir = mkdtempSync(join(tmpdir(), 'vxmesh-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('syslog priority of pino levels', () => {
  it('maps fatal, error, warn, info, debug and trace', () => {
    expect([60, 50, 40, 30, 20, 10].map(syslogPriority)).toEqual([2, 3, 4, 6, 7, 7]);
  });

  it('prefixes a pino line by its level and leaves other text alone', () => {
    expect(journalPrefix('{"level":50,"time":1,"msg":"x"}\n')).toBe('<3>');
    expect(journalPrefix('{"level":30,"msg":"x"}')).toBe('<6>');
    expect(journalPrefix('not json')).toBe('');
  });

  it('a logger writing through the journal destination gives every line its priority', () => {
    const lines: string[] = [];
    const log = pino({ level: 'trace' }, journalDestination({ write: (s: string) => lines.push(s) }));
    log.fatal('f');
    log.error({ err: 'x' }, 'e');
    log.warn('w');
    log.child({ component: 'c' }).info('i');
    log.debug('d');
    log.trace('t');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<2>', '<3>', '<4>', '<6>', '<7>', '<7>']);
    for (const l of lines) expect(() => JSON.parse(l.slice(3))).not.toThrow();
  });
});

describe('journal detection (JOURNAL_STREAM against stdout\'s device:inode)', () => {
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  const other = openSync(join(dir, 'other'), 'w');
  afterAll(() => {
    closeSync(fd);
    closeSync(other);
  });
  const st = fstatSync(fd, { bigint: true });

  it('is true only when the variable names the very stream', () => {
    expect(isJournalStream(`${st.dev}:${st.ino}`, fd)).toBe(true);
    expect(isJournalStream(`${st.dev}:${st.ino}`, other)).toBe(false);
    expect(isJournalStream(`${st.dev}:${st.ino + 1n}`, fd)).toBe(false);
  });

  it('is false without the variable, or with a malformed one', () => {
    expect(isJournalStream(undefined, fd)).toBe(false);
    expect(isJournalStream('', fd)).toBe(false);
    expect(isJournalStream('8:abc', fd)).toBe(false);
  });
});
