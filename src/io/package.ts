/** Where this package lives and which version it is: the nearest package.json named "avgk". */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
let memo: { root: string | null; version: string } | undefined;

function readAvgkPackage(dir: string): { version?: unknown } | null {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) return null;
  try {
    const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown; version?: unknown };
    return pkg.name === 'avgk' ? pkg : null;
  } catch {
    return null; // unreadable package.json: keep walking
  }
}

/** The first ancestor of `start` (default: this module) holding avgk's package.json, or null. */
export function findPackageRoot(start: string = HERE): string | null {
  if (start === HERE && memo) return memo.root;
  let dir = resolve(start);
  for (;;) {
    if (readAvgkPackage(dir)) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

function info(): { root: string | null; version: string } {
  if (!memo) {
    const root = findPackageRoot(HERE);
    const version = root ? readAvgkPackage(root)?.version : undefined;
    memo = { root, version: typeof version === 'string' ? version : '0.0.0-unknown' };
  }
  return memo;
}

/** This package's version (from its package.json). */
export function libraryVersion(): string {
  return info().version;
}
