import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './lab.js';

/**
 * A PATH for one daemon where the tools it runs can be made to fail on demand: every tool is
 * a small shell wrapper around the real one. With the file `fail-<tool>` in the flag
 * directory the tool fails at once (as a broken ebtables would); with `drop-<tool>` holding
 * patterns, the lines of an `ip -batch`/`bridge -batch` input that match are withheld from
 * the real tool and the call exits 1 (as the kernel refusing those lines under -force would);
 * with `hang-<tool>` every call hangs (as a child stuck in the kernel would); with
 * `swap-<tool>` holding `from=to` lines, batch input has each `from` replaced by `to` and the
 * call succeeds (a change the kernel takes but that never reads back as asked).
 * The tests' own commands use the real tools.
 */
export class ToolFaults {
  readonly bin: string;
  private readonly flags: string;
  private readonly root: string;

  private constructor(root: string) {
    this.root = root;
    this.bin = join(root, 'bin');
    this.flags = join(root, 'flags');
    mkdirSync(this.bin);
    mkdirSync(this.flags);
  }

  static async create(tools = ['ip', 'bridge', 'nft', 'ebtables', 'ebtables-save', 'ebtables-restore']): Promise<ToolFaults> {
    const f = new ToolFaults(mkdtempSync(join(tmpdir(), 'vxmesh-faults-')));
    for (const tool of tools) {
      const real = (await run('sh', ['-c', `command -v ${tool}`])).trim();
      const path = join(f.bin, tool);
      writeFileSync(path, wrapper(tool, real, f.flags));
      chmodSync(path, 0o755);
    }
    // Helpers the wrappers themselves need.
    for (const t of ['sh', 'cat', 'grep', 'mktemp', 'rm', 'sleep', 'sed']) symlinkSync((await run('sh', ['-c', `command -v ${t}`])).trim(), join(f.bin, t));
    return f;
  }

  /** Make every call of `tool` hang (true) or work again (false). */
  hang(tool: string, on = true): void {
    this.flag(`hang-${tool}`, on ? 'on\n' : undefined);
  }

  /** Rewrite `from` to `to` in batch input of `tool` (none: stop rewriting). */
  swap(tool: string, pairs: [string, string][]): void {
    this.flag(`swap-${tool}`, pairs.length ? pairs.map(([a, b]) => `s/${a}/${b}/g`).join('\n') + '\n' : undefined);
  }

  /** Make `tool` fail outright (true) or work again (false). */
  fail(tool: string, on = true): void {
    this.flag(`fail-${tool}`, on ? 'on\n' : undefined);
  }

  /** Withhold batch lines of `tool` that contain any of `patterns` (none: stop withholding). */
  drop(tool: string, patterns: string[]): void {
    this.flag(`drop-${tool}`, patterns.length ? patterns.join('\n') + '\n' : undefined);
  }

  private flag(name: string, content: string | undefined): void {
    const path = join(this.flags, name);
    if (content === undefined) rmSync(path, { force: true });
    else writeFileSync(path, content);
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

function wrapper(tool: string, real: string, flags: string): string {
  return `#!/bin/sh
if [ -e '${flags}/fail-${tool}' ]; then echo '${tool}: simulated failure (test)' >&2; exit 1; fi
if [ -e '${flags}/hang-${tool}' ]; then exec sleep 3600; fi
case " $* " in
  *" -batch "*)
    if [ -s '${flags}/swap-${tool}' ]; then sed -f '${flags}/swap-${tool}' | '${real}' "$@"; exit $?; fi
    if [ -s '${flags}/drop-${tool}' ]; then
      tmp=$(mktemp)
      cat > "$tmp"
      if grep -qF -f '${flags}/drop-${tool}' "$tmp"; then
        grep -vF -f '${flags}/drop-${tool}' "$tmp" | '${real}' "$@"
        rm -f "$tmp"
        echo '${tool}: simulated refusal of a batch line (test)' >&2
        exit 1
      fi
      '${real}' "$@" < "$tmp"; rc=$?; rm -f "$tmp"; exit $rc
    fi;;
esac
exec '${real}' "$@"
`;
}
