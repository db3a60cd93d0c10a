#!/usr/bin/env node
// Builds the C++ addon with node-gyp unless build/Release/avgk.node is newer than every native
// source and binding.gyp (so re-running `npm install`, or `npx avgk` installing the package into
// npm's cache, does not delete a working addon under a running process).
//
//   node scripts/build-native.mjs           the install script: never fails the install. Without a
//                                           C++ compiler, make or Python 3, or when the build fails,
//                                           it prints one line saying why and how to build it later,
//                                           and exits 0 (avgk then runs on the TypeScript backend)
//   node scripts/build-native.mjs --force   always rebuild, with node-gyp's output; a failure exits 1
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join, dirname, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'build', 'Release', 'avgk.node');
const logFile = join(root, 'build', 'native-build.log');
const force = process.argv.includes('--force');
const later =
  'the library will use the TypeScript backend (slower); to build the addon later, install g++, make and Python 3 ' +
  'and run `npm rebuild avgk` (in a clone: `npm run build:native`)';

/** The one line of an install that did not build the addon; exit 0 so the install goes on. */
function skip(why) {
  console.log(`avgk: native addon not built: ${why}; ${later}`);
  process.exit(0);
}

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(cc|h|cu|cuh)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** The first of `names` that is an absolute path that exists or is found on PATH, else null. */
function which(...names) {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const name of names) {
    if (!name) continue;
    if (isAbsolute(name)) {
      if (existsSync(name)) return name;
      continue;
    }
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      for (const ext of exts) if (dir && existsSync(join(dir, name + ext))) return join(dir, name + ext);
    }
  }
  return null;
}

function build() {
  if (!force && existsSync(target)) {
    const sources = Math.max(newestSource(join(root, 'native')), statSync(join(root, 'binding.gyp')).mtimeMs);
    if (statSync(target).mtimeMs >= sources) {
      console.log('avgk: native addon is up to date (build/Release/avgk.node); `npm run build:native` rebuilds it');
      process.exit(0);
    }
  }
  // What node-gyp needs on POSIX (Windows has its own toolchain: node-gyp itself says what lacks).
  if (process.platform !== 'win32' && !force) {
    const cxx = (process.env.CXX ?? '').trim().split(/\s+/)[0];
    if (!which(cxx, 'g++', 'c++', 'clang++')) skip('no C++ compiler found (g++, c++ or clang++ on PATH, or $CXX)');
    if (!which('make', 'gmake')) skip('make was not found on PATH');
    if (!which(process.env.npm_config_python, process.env.PYTHON, 'python3', 'python')) skip('Python 3 was not found on PATH (node-gyp needs it)');
  }
  // npm puts its bundled node-gyp in npm_config_node_gyp for lifecycle scripts; outside npm, use
  // the copy bundled with npm next to this node, else node-gyp on the PATH.
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : null);
  // Headers: npm's nodedir setting, else the headers installed beside this node (never a download).
  const local = join(dirname(process.execPath), '..');
  const nodedir = process.env.npm_config_nodedir || (existsSync(join(local, 'include', 'node', 'node_api.h')) ? local : null);
  const args = ['rebuild', '-j', '2', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
  const [cmd, argv] = gyp ? [process.execPath, [gyp, ...args]] : ['node-gyp', args];
  const shell = !gyp && process.platform === 'win32';
  if (force) {
    // an explicit build: show node-gyp's output and report a failure
    const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', shell });
    if (r.error) console.error(`avgk: could not run node-gyp (${r.error.message})`);
    process.exit(r.error ? 1 : (r.status ?? 1));
  }
  // the install: node-gyp's output goes to build/native-build.log, the outcome is one line
  console.log('avgk: building the native addon (node-gyp; a few minutes)');
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, shell });
  if (r.error) skip(`could not run node-gyp (${r.error.message})`);
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  try {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, log);
  } catch {
    // the log is a convenience: a read-only package folder must not fail the install
  }
  if (r.status !== 0 || !existsSync(target)) {
    // the compiler's first "error:" line, else node-gyp's ("gyp ERR! stack Error: ...")
    const first = log.split('\n').find((l) => /error:/i.test(l))?.replace(/^gyp ERR! stack /, '').trim() ?? `node-gyp exited with ${r.status}`;
    skip(`the build failed (${first.slice(0, 200)}; the whole log is in build/native-build.log)`);
  }
  console.log(`avgk: built build/Release/avgk.node in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  build();
} catch (e) {
  // anything unexpected (an unreadable source tree, ...) must not fail the install either
  if (force) throw e;
  skip(`unexpected error (${e instanceof Error ? e.message : String(e)})`);
}
