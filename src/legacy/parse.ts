/**
 * Reads the settings of a vxlansetup.sh server: the six variables the script uses,
 * from the script itself, from an environment file (NAME=VALUE lines) or from the
 * process environment. Pure: text and environment in, values or errors out.
 *
 * Only the assignment forms such scripts use are understood; anything that needs a
 * shell to evaluate (command substitution, arithmetic) is reported, never guessed.
 */
import { canonicalAddress } from '../config/address.js';

export const LEGACY_VARIABLES = ['LOCALIP', 'REMOTEIPS', 'LOCAL_DEV', 'BRIDGE_DEV', 'VXLAN_DEV', 'PORT'] as const;
export type LegacyVariable = (typeof LEGACY_VARIABLES)[number];

/** One server still running vxlansetup.sh, as its variables describe it. */
export interface LegacyServer {
  /** Where the values came from (file path or "environment"), for messages. */
  source: string;
  localIp: string;
  /** REMOTEIPS in the script's order: the remote at index k gets VNI k. */
  remotes: string[];
  localDev?: string;
  bridgeDev?: string;
  vxlanDev?: string;
  port?: number;
}

export interface ParseProblem {
  source: string;
  line: number;
  message: string;
}

export type ParseResult = { ok: true; server: LegacyServer } | { ok: false; problems: ParseProblem[] };

type Env = Readonly<Record<string, string | undefined>>;

interface Assignment {
  line: number;
  value: string | string[];
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*/;
const ASSIGN = new RegExp(`^\\s*(?:(?:export|readonly|local|declare(?:\\s+-[A-Za-z]+)*)\\s+)?(${NAME.source})(\\+?)=(.*)$`);

/**
 * Parses a script or environment file. Variables set in the text win over `env`
 * (as in bash), except where the text itself defers to it (`${LOCALIP:-...}`).
 */
export function parseLegacyText(text: string, source: string, env: Env = {}): ParseResult {
  const problems: ParseProblem[] = [];
  const vars = new Map<string, Assignment>();
  const lookup = (name: string): string | undefined => {
    const v = vars.get(name)?.value;
    if (v !== undefined) return Array.isArray(v) ? v.join(' ') : v;
    return env[name];
  };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const m = ASSIGN.exec(lines[n]!);
    if (!m) continue;
    const name = m[1]!;
    let rest = m[3]!;
    const lineNo = n + 1;
    // A bash array may span lines: REMOTEIPS=( a \n b )
    if (rest.trimStart().startsWith('(')) {
      rest = stripComment(rest);
      while (!/\)\s*$/.test(rest) && n + 1 < lines.length) rest += ' ' + stripComment(lines[++n]!);
    }
    const interesting = (LEGACY_VARIABLES as readonly string[]).includes(name);
    const r = parseValue(rest, lookup);
    if ('error' in r) {
      if (interesting) problems.push({ source, line: lineNo, message: `${name}: ${r.error}` });
      continue;
    }
    const value = m[2] === '+' && vars.has(name) ? appendValue(vars.get(name)!.value, r.value) : r.value;
    vars.set(name, { line: lineNo, value });
  }
  if (problems.length > 0) return { ok: false, problems };
  return toServer(source, (name) => {
    const a = vars.get(name);
    if (a) return { value: a.value, line: a.line };
    const e = env[name];
    return e === undefined ? undefined : { value: e, line: 0 };
  });
}

/** The settings from the environment alone (a server whose script reads them from there). */
export function parseLegacyEnv(env: Env, source = 'environment'): ParseResult {
  return toServer(source, (name) => {
    const e = env[name];
    return e === undefined ? undefined : { value: e, line: 0 };
  });
}

function toServer(source: string, get: (name: LegacyVariable) => { value: string | string[]; line: number } | undefined): ParseResult {
  const problems: ParseProblem[] = [];
  const bad = (line: number, message: string) => problems.push({ source, line: Math.max(line, 1), message });
  const str = (name: LegacyVariable): { value: string; line: number } | undefined => {
    const v = get(name);
    if (!v) return undefined;
    return { value: (Array.isArray(v.value) ? v.value.join(' ') : v.value).trim(), line: v.line };
  };

  const local = str('LOCALIP');
  let localIp = '';
  if (!local || local.value === '') bad(local?.line ?? 1, 'LOCALIP is not set');
  else if (!canonicalAddress(local.value)) bad(local.line, `LOCALIP: "${local.value}" is not an IPv4 or IPv6 address`);
  else localIp = canonicalAddress(local.value)!;

  const rv = get('REMOTEIPS');
  const remotes: string[] = [];
  if (!rv) bad(1, 'REMOTEIPS is not set');
  else {
    const words = Array.isArray(rv.value) ? rv.value.flatMap(splitWords) : splitWords(rv.value);
    if (words.length === 0) bad(rv.line, 'REMOTEIPS is empty');
    for (const w of words) {
      const a = canonicalAddress(w);
      if (!a) bad(rv.line, `REMOTEIPS: "${w}" is not an IPv4 or IPv6 address`);
      else if (remotes.includes(a)) bad(rv.line, `REMOTEIPS: ${a} is listed twice (the script would create two devices to it)`);
      else if (a === localIp) bad(rv.line, `REMOTEIPS: ${a} is LOCALIP itself (the script would create a device to its own address); remove it`);
      else remotes.push(a);
    }
  }

  const server: LegacyServer = { source, localIp, remotes };
  const ifname = (name: LegacyVariable, key: 'localDev' | 'bridgeDev' | 'vxlanDev') => {
    const v = str(name);
    if (!v || v.value === '') return;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(v.value)) bad(v.line, `${name}: "${v.value}" is not an interface name`);
    else server[key] = v.value;
  };
  ifname('LOCAL_DEV', 'localDev');
  ifname('BRIDGE_DEV', 'bridgeDev');
  ifname('VXLAN_DEV', 'vxlanDev');
  const port = str('PORT');
  if (port && port.value !== '') {
    const p = Number(port.value);
    if (!/^\d+$/.test(port.value) || p < 1 || p > 65535) bad(port.line, `PORT: "${port.value}" is not a UDP port`);
    else server.port = p;
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, server };
}

function splitWords(s: string): string[] {
  return s.split(/[\s,]+/).filter((w) => w !== '');
}

function appendValue(prev: string | string[], add: string | string[]): string | string[] {
  if (Array.isArray(prev)) return [...prev, ...(Array.isArray(add) ? add : [add])];
  return prev + (Array.isArray(add) ? add.join(' ') : add);
}

/** Drops a trailing `# comment` that is outside quotes. */
function stripComment(s: string): string {
  let q: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = undefined;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]!))) return s.slice(0, i);
  }
  return s;
}

type Value = { value: string | string[] } | { error: string };

/** The value of `NAME=<rest>`: one shell word, or an array `( words )`. */
function parseValue(rest: string, lookup: (name: string) => string | undefined): Value {
  const text = stripComment(rest).trim();
  if (text.startsWith('(')) {
    const close = text.lastIndexOf(')');
    if (close < 0) return { error: 'unterminated array' };
    const words: string[] = [];
    let s = text.slice(1, close).trim();
    while (s !== '') {
      const w = readWord(s, lookup);
      if ('error' in w) return w;
      if (w.word !== '') words.push(...(w.quoted ? [w.word] : splitWords(w.word)));
      s = s.slice(w.length).trimStart();
    }
    return { value: words };
  }
  const w = readWord(text, lookup);
  if ('error' in w) return w;
  // `LOCALIP=1.2.3.4 command ...` is a temporary assignment for that command; rare in these scripts.
  const after = text.slice(w.length).trim();
  if (after !== '' && !after.startsWith(';')) return { error: `cannot read the value "${text}" (set it as one word)` };
  return { value: w.word };
}

/** One shell word at the start of `s`, with quotes removed and $VAR / ${VAR:-default} expanded. */
function readWord(s: string, lookup: (name: string) => string | undefined): { word: string; length: number; quoted: boolean } | { error: string } {
  let out = '';
  let i = 0;
  let quoted = false;
  while (i < s.length && !/[\s;]/.test(s[i]!)) {
    const c = s[i]!;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return { error: 'unterminated single quote' };
      out += s.slice(i + 1, end);
      i = end + 1;
      quoted = true;
    } else if (c === '"') {
      quoted = true;
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) {
          out += s[i + 1];
          i += 2;
        } else if (s[i] === '$') {
          const e = expand(s, i, lookup);
          if ('error' in e) return e;
          out += e.text;
          i += e.length;
        } else out += s[i++];
      }
      if (s[i] !== '"') return { error: 'unterminated double quote' };
      i++;
    } else if (c === '\\') {
      out += s[i + 1] ?? '';
      i += 2;
    } else if (c === '$') {
      const e = expand(s, i, lookup);
      if ('error' in e) return e;
      out += e.text;
      i += e.length;
    } else if (c === '`') {
      return { error: 'uses command substitution (`...`); put the literal value in the script or pass it in the environment' };
    } else {
      out += c;
      i++;
    }
  }
  return { word: out, length: i, quoted };
}

function expand(s: string, i: number, lookup: (name: string) => string | undefined): { text: string; length: number } | { error: string } {
  const next = s[i + 1];
  if (next === '(') return { error: 'uses command or arithmetic substitution $(...); put the literal value in the script or pass it in the environment' };
  if (next === '{') {
    const end = s.indexOf('}', i);
    if (end < 0) return { error: 'unterminated ${...}' };
    const inner = s.slice(i + 2, end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])(.*))?$/.exec(inner);
    if (!m) return { error: `cannot evaluate \${${inner}}` };
    const v = lookup(m[1]!);
    const op = m[2];
    const useDefault = op === undefined ? false : op.startsWith(':') ? v === undefined || v === '' : v === undefined;
    const def = m[3] ?? '';
    const text = useDefault ? unquote(def) : v ?? '';
    return { text, length: end - i + 1 };
  }
  const m = new RegExp(`^\\$(${NAME.source})`).exec(s.slice(i));
  if (!m) return { text: '$', length: 1 };
  return { text: lookup(m[1]!) ?? '', length: m[0].length };
}

function unquote(s: string): string {
  const t = s.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}
