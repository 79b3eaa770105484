#!/usr/bin/env node
// npm run package: builds, into build/ (git-ignored),
//   build/vxmesh.cjs                 one bundled program file (esbuild): what the CLI and the
//                                    daemon import, nothing of the lab, benchmark or demo;
//                                    runs on any host with Node.js >= 20
//   build/vxmesh                     a single executable with the Node runtime embedded
//                                    (Node's single-executable-application support)
//   build/vxmesh_<ver>_<arch>.deb    the Debian package: the executable as /usr/lib/vxmesh/vxmesh,
//                                    started by /usr/bin/vxmesh with the runtime flags it was built for
// Needs esbuild and postject (devDependencies) and Debian's dpkg-deb, dpkg-shlibdeps
// (dpkg-dev), strip (binutils) and gzip. Prints each artifact's path and size.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(repo, 'build');
const pkgDir = join(repo, 'packaging');
const started = Date.now();
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
// Debian revision 1 of the upstream version: the .deb is built from this tree alone.
const debVersion = `${pkg.version}-1`;
const arch = sh('dpkg', ['--print-architecture']).trim();
// The sentinel Node's SEA loader looks for (documented in Node's single-executable-applications).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
// DAEMON_NODE_FLAGS of src/daemon/node-flags.ts (test/netns/package.test.ts checks they agree).
const RUNTIME_FLAGS = ['--max-semi-space-size=1'];

function sh(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error(`${cmd} not found: install it (Debian: apt-get install dpkg-dev binutils; see scripts/deps-debian.sh)`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}
function step(what) {
  process.stderr.write(`package: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}
function size(path) {
  return `${(statSync(path).size / 1e6).toFixed(1)} MB`;
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. One CommonJS file that requires only Node built-ins: what SEA can run. Nothing in the
// program's import graph may use import.meta or worker threads (pino logs to stdout without
// transports).
step('bundling src/cli/main.ts with esbuild');
const bundle = join(out, 'vxmesh.cjs');
const result = await build({
  entryPoints: [join(repo, 'src/cli/main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Whitespace and syntax only: names stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});
// A warning here (import.meta in CommonJS, a require esbuild cannot follow) is a program that
// would break only inside the single executable: fail now instead.
if (result.warnings.length) throw new Error(`esbuild warned about ${result.warnings.length} thing(s) above: the bundle would not run as a single executable`);
const inputs = Object.keys(result.metafile.inputs);
// Only product code (src/, minus the lab, benchmark and demo wherever they live) and runtime packages.
const leaked = inputs.filter((p) => !p.startsWith('node_modules/') && (!p.startsWith('src/') || /^src\/(lab|bench|demo)\//.test(p)));
if (leaked.length) throw new Error(`the bundle pulls in code that must not ship: ${leaked.join(', ')}`);
chmodSync(bundle, 0o755);

// 2. The single executable: a copy of this node, stripped (the SEA blob goes in afterwards,
// so stripping cannot remove it), with the bundle and V8's code cache injected.
step('building the single executable (node --experimental-sea-config, postject)');
// The runtime to embed: this node, or VXMESH_SEA_NODE. It must be a self-contained build
// carrying the SEA fuse (nodejs.org, NodeSource); Debian's nodejs links libnode and cannot be used.
const runtime = process.env.VXMESH_SEA_NODE || embeddableNode();
const runtimeVersion = sh(runtime, ['--version']).trim();
if (Number(runtimeVersion.slice(1).split('.')[0]) < 20) throw new Error(`the single executable needs Node.js >= 20 to embed; ${runtime} is ${runtimeVersion}`);
if (!readFileSync(runtime).includes(SEA_FUSE)) throw new Error(`${runtime} has no single-executable support (no ${SEA_FUSE}): use an official Node.js build (nodejs.org or NodeSource), e.g. VXMESH_SEA_NODE=/path/to/node npm run package`);
const seaConfig = join(out, 'sea-config.json');
const blob = join(out, 'sea-prep.blob');
writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
// V8 accepts a code cache only under the flags it was made with, so it is made under the flags
// every run gets from /usr/bin/vxmesh (the daemon's small young generation; see
// src/daemon/node-flags.ts). Without them Node warns "Code cache data rejected" and compiles.
sh(runtime, [...RUNTIME_FLAGS, '--experimental-sea-config', seaConfig]);
const exe = join(out, 'vxmesh');
copyFileSync(runtime, exe);
chmodSync(exe, 0o755);
sh('strip', ['--strip-all', exe]);
sh(process.execPath, [join(repo, 'node_modules/postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
rmSync(seaConfig);
rmSync(blob);
const selfTest = execFileSync(exe, ['--help'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: RUNTIME_FLAGS.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
if (!selfTest.startsWith('vxmesh:')) throw new Error(`the single executable does not run the program: ${selfTest.slice(0, 200)}`);
// The same flags in every run, and no NODE_OPTIONS of the caller's (meant for some other node).
const launcher = `#!/bin/sh
# vxmesh: runs ../lib/vxmesh/vxmesh (the program with the Node.js runtime embedded) with the
# runtime flags its code cache was built for, whatever NODE_OPTIONS the caller has. Found
# relative to this file, so a package unpacked elsewhere (dpkg-deb -x) runs its own copy.
NODE_OPTIONS='${RUNTIME_FLAGS.join(' ')}' exec "\${0%/*}/../lib/vxmesh/vxmesh" "$@"
`;

// 3. The Debian package.
step('assembling the Debian package');
const name = `vxmesh_${debVersion}_${arch}`;
const root = join(out, name);
const put = (rel, mode, content) => {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  if (typeof content === 'string' || Buffer.isBuffer(content)) writeFileSync(path, content);
  else copyFileSync(content.from, path);
  chmodSync(path, mode);
};
put('usr/lib/vxmesh/vxmesh', 0o755, { from: exe });
put('usr/bin/vxmesh', 0o755, launcher);
put('usr/lib/systemd/system/vxmesh.service', 0o644, { from: join(repo, 'systemd/vxmesh.service') });
put('etc/vxmesh/peers.yaml', 0o644, { from: join(repo, 'etc/vxmesh/peers.yaml') });
put('etc/vxmesh/peers.d/10-node.yaml.example', 0o644, { from: join(repo, 'etc/vxmesh/peers.d/10-node.yaml.example') });
put('usr/share/man/man8/vxmesh.8.gz', 0o644, gzipNoName(join(pkgDir, 'vxmesh.8')));
put('usr/share/bash-completion/completions/vxmesh', 0o644, { from: join(pkgDir, 'vxmesh.bash-completion') });
put(`usr/share/doc/vxmesh/changelog.Debian.gz`, 0o644, gzipNoName(join(pkgDir, 'debian/changelog')));
put('usr/share/doc/vxmesh/copyright', 0o644, renderCopyright(inputs));
put('usr/share/doc/vxmesh/README.md', 0o644, { from: join(repo, 'README.md') });
for (const doc of ['operations.md', 'configuration.md', 'troubleshooting.md', 'install.md']) {
  put(`usr/share/doc/vxmesh/${doc}`, 0o644, { from: join(repo, 'docs', doc) });
}
put('usr/share/lintian/overrides/vxmesh', 0o644, { from: join(pkgDir, 'debian/lintian-overrides') });
for (const script of ['postinst', 'prerm', 'postrm']) put(`DEBIAN/${script}`, 0o755, { from: join(pkgDir, 'debian', script) });
put('DEBIAN/conffiles', 0o644, '/etc/vxmesh/peers.yaml\n/etc/vxmesh/peers.d/10-node.yaml.example\n');
put('DEBIAN/control', 0o644, renderControl());
put('DEBIAN/md5sums', 0o644, md5sums());

step('building the .deb with dpkg-deb');
const deb = join(out, `${name}.deb`);
sh('dpkg-deb', ['--root-owner-group', '-Zxz', '-z6', '--build', root, deb]);
rmSync(root, { recursive: true });
step('done');
for (const f of [bundle, exe, deb]) process.stdout.write(`${relative(process.cwd(), f) || f}\t${size(f)}\n`);

function gzipNoName(path) {
  // zlib writes no file name and a zero mtime into the header, as `gzip -n` does: same input, same bytes.
  return gzipSync(readFileSync(path), { level: 9 });
}

/** Depends: the shared libraries the embedded runtime links (dpkg-shlibdeps) and the tools the daemon runs. */
function renderControl() {
  const tmp = join(out, 'shlibdeps');
  mkdirSync(join(tmp, 'debian'), { recursive: true });
  writeFileSync(join(tmp, 'debian/control'), 'Source: vxmesh\n\nPackage: vxmesh\nArchitecture: any\n');
  const line = sh('dpkg-shlibdeps', ['-O', join(root, 'usr/lib/vxmesh/vxmesh')], { cwd: tmp });
  rmSync(tmp, { recursive: true });
  const shlibs = /^shlibs:Depends=(.*)$/m.exec(line)?.[1];
  if (!shlibs) throw new Error(`dpkg-shlibdeps gave no dependencies: ${line}`);
  const template = readFileSync(join(pkgDir, 'debian/control.in'), 'utf8');
  const installedKb = Math.ceil(du(root) / 1024);
  return template
    .replace('@VERSION@', debVersion)
    .replace('@ARCH@', arch)
    .replace('@SHLIBS@', shlibs)
    .replace('@INSTALLED_SIZE@', String(installedKb));
}

function du(dir) {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'DEBIAN') continue;
    const p = join(dir, e.name);
    total += e.isDirectory() ? du(p) : statSync(p).size;
  }
  return total;
}

function md5sums() {
  const lines = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== join(root, 'DEBIAN')) walk(p);
      } else lines.push(`${createHash('md5').update(readFileSync(p)).digest('hex')}  ${relative(root, p)}`);
    }
  };
  walk(root);
  return lines.join('\n') + '\n';
}

/** The copyright file: vxmesh itself, the embedded runtime, then every npm package the bundle contains. */
function renderCopyright(bundled) {
  const head = readFileSync(join(pkgDir, 'debian/copyright.in'), 'utf8');
  const packages = new Map();
  for (const p of bundled) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p);
    if (!m) continue;
    const dir = p.slice(0, m.index + m[0].length - 1);
    if (packages.has(dir)) continue;
    const meta = JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8'));
    packages.set(dir, meta);
  }
  const blocks = [...packages.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((meta) => {
      const author = typeof meta.author === 'string' ? meta.author : meta.author?.name;
      return `  ${meta.name} ${meta.version}: ${meta.license ?? 'license: see the package'}, copyright ${author ?? `the ${meta.name} authors`}`;
    });
  const embedded = `/usr/lib/vxmesh/vxmesh embeds the Node.js ${runtimeVersion} runtime: copyright Node.js contributors and the\nOpenJS Foundation, MIT license, with the licenses of the parts it bundles (V8, OpenSSL, libuv,\nICU and others) listed in https://github.com/nodejs/node/blob/${runtimeVersion}/LICENSE`;
  return `${head.trimEnd()}\n\n${embedded}\n\nIt also contains these npm packages (name, version, license, copyright holder). On Debian\nsystems the full text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0;\nthe MIT, ISC and BSD licenses are short permissive licenses like the one above.\n${blocks.join('\n')}\n`;
}

/**
 * This node when it can be embedded; otherwise (Debian's nodejs links libnode) the official build
 * of the same version from the npm registry (`node-linux-<arch>`: nodejs.org's binary, packaged).
 */
function embeddableNode() {
  if (readFileSync(process.execPath).includes(SEA_FUSE)) return process.execPath;
  const name = `node-linux-${process.arch}@${process.versions.node}`;
  const dir = join(out, 'runtime');
  const bin = join(dir, 'package', 'bin', 'node');
  try {
    if (readFileSync(bin).includes(SEA_FUSE)) return bin;
  } catch {
    // not fetched yet
  }
  process.stdout.write(`${process.execPath} cannot be embedded (no ${SEA_FUSE}): using ${name} from the npm registry\n`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tgz = sh('npm', ['pack', '--silent', '--pack-destination', dir, name]).trim().split('\n').pop();
  sh('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  return bin;
}
