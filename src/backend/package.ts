/**
 * Where this package lives: the nearest ancestor directory whose package.json is named "avgk"
 * (the addons are found from there). The lowest layer, so that every other one may use it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
let memo: string | null | undefined;

/** avgk's package.json in `dir`, or null. */
export function readAvgkPackage(dir: string): { version?: unknown } | null {
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
  if (start === HERE && memo !== undefined) return memo;
  let dir = resolve(start);
  for (;;) {
    if (readAvgkPackage(dir)) {
      if (start === HERE) memo = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) {
      if (start === HERE) memo = null;
      return null;
    }
    dir = up;
  }
}
