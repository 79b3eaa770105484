/**
 * `vxmesh doctor` for control: evpn: FRR installed and of a version this layout works with,
 * bgpd enabled in FRR's daemons file, zebra and bgpd answering vtysh, and on a reflector its
 * `bgp listen limit`. The verdicts are pure
 * (frrVerdicts); frrChecks does the reads.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Runner } from '../kernel/runner.js';
import { observeFrr } from '../kernel/frr-observe.js';
import type { FrrState } from '../model/frr.js';
import type { DoctorCheck } from './doctor-checks.js';
import { listenLimitVerdict } from './doctor-listen-limit.js';

export interface FrrFacts {
  /** `zebra --version` output, or undefined when zebra is not installed. */
  version: string | undefined;
  /** /etc/frr[/<pathspace>]/daemons, or undefined when it cannot be read. */
  daemonsFile: string | undefined;
  daemonsPath: string;
  state: FrrState;
}

/** Pure: the FRR checks from what was read. */
export function frrVerdicts(f: FrrFacts): DoctorCheck[] {
  const out: DoctorCheck[] = [];
  const v = f.version ? /version (\d+)\.(\d+)(?:\.(\d+))?/.exec(f.version) : null;
  if (!f.version) {
    out.push({ name: 'frr', severity: 'problem', message: 'FRR is not installed (control: evpn needs its zebra and bgpd)', fix: 'apt-get install frr' });
  } else if (!v || Number(v[1]) < 8) {
    out.push({ name: 'frr', severity: 'problem', message: `FRR ${v ? `${v[1]}.${v[2]}` : `(version not understood: ${f.version.split('\n')[0]})`} is older than 8.0: vxmesh's EVPN layout is tested with 8.4`, fix: 'install FRR 8.4 or later (Debian 12 ships 8.4)' });
  } else {
    out.push({ name: 'frr', severity: 'ok', message: `FRR ${v[1]}.${v[2]}${v[3] ? `.${v[3]}` : ''}: one VXLAN device per VNI (the single vnifilter device would need FRR >= 9.0; vxmesh does not use it)` });
  }
  if (f.daemonsFile !== undefined) {
    const bgpd = /^\s*bgpd\s*=\s*yes\s*$/m.test(f.daemonsFile);
    out.push(bgpd ? { name: 'frr daemons', severity: 'ok', message: `bgpd enabled in ${f.daemonsPath} (zebra always runs)` } : { name: 'frr daemons', severity: 'problem', message: `bgpd is not enabled in ${f.daemonsPath}`, fix: `set bgpd=yes there and run \`systemctl restart frr\` once (vxmesh applies its config without restarting FRR)` });
  } else {
    out.push({ name: 'frr daemons', severity: 'warning', message: `cannot read ${f.daemonsPath}`, fix: 'run doctor as root, or check that frr is installed' });
  }
  const s = f.state;
  const missing = ['zebra', 'bgpd'].filter((d) => !s.daemons.includes(d));
  if (!s.reachable) out.push({ name: 'frr running', severity: 'problem', message: `vtysh reaches no FRR daemon: ${s.error ?? 'unknown error'}`, fix: 'systemctl start frr (and check that this user may use vtysh: group frrvty)' });
  else if (missing.length) out.push({ name: 'frr running', severity: 'problem', message: `${missing.join(' and ')} not running (vtysh sees ${s.daemons.join(', ') || 'none'})`, fix: 'enable it in the daemons file and systemctl restart frr' });
  else out.push({ name: 'frr running', severity: 'ok', message: 'zebra and bgpd answer vtysh' });
  // Only a host that reflects (a listen range) gets this check.
  const limit = s.reachable ? listenLimitVerdict(s.running) : undefined;
  if (limit) out.push(limit);
  return out;
}

export async function frrChecks(runner: Runner, pathspace: string | undefined): Promise<DoctorCheck[]> {
  const version = await runner.run('/usr/lib/frr/zebra', ['--version'], { timeoutMs: 5000 }).catch(() => undefined);
  const daemonsPath = join('/etc/frr', pathspace ?? '', 'daemons');
  const daemonsFile = await readFile(pathspace ? daemonsPath : '/etc/frr/daemons', 'utf8').catch(() => undefined);
  return frrVerdicts({ version, daemonsFile, daemonsPath, state: await observeFrr(runner, pathspace) });
}
