#!/usr/bin/env node
// Builds the C++ addon with node-gyp unless build/Release/avgk.node is newer than every native
// source and binding.gyp (so re-running `npm install`, or `npx avgk` installing the package into
// npm's cache, does not delete a working addon under a running process). `--force` always rebuilds.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'build', 'Release', 'avgk.node');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(cc|h|cu|cuh)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const force = process.argv.includes('--force');
if (!force && existsSync(target)) {
  const sources = Math.max(newestSource(join(root, 'native')), statSync(join(root, 'binding.gyp')).mtimeMs);
  if (statSync(target).mtimeMs >= sources) {
    console.log('avgk: native addon is up to date (build/Release/avgk.node); `npm run build:native` rebuilds it');
    process.exit(0);
  }
}
// npm puts its bundled node-gyp in npm_config_node_gyp for lifecycle scripts; outside npm, use
// the copy bundled with npm next to this node, else node-gyp on the PATH.
const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (existsSync(bundled) ? bundled : null);
// Headers: npm's nodedir setting, else the headers installed beside this node (never a download).
const local = join(dirname(process.execPath), '..');
const nodedir = process.env.npm_config_nodedir || (existsSync(join(local, 'include', 'node', 'node_api.h')) ? local : null);
const args = ['rebuild', '-j', '2', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  console.error(`avgk: could not run node-gyp (${r.error.message}); the library will fall back to the TypeScript backend`);
  process.exit(1);
}
process.exit(r.status ?? 1);
