/** This package's version (from its package.json); the root is found by src/backend/package.ts. */
import { findPackageRoot, readAvgkPackage } from '../backend/package.js';

export { findPackageRoot };

let version: string | undefined;

/** This package's version (from its package.json). */
export function libraryVersion(): string {
  if (version === undefined) {
    const root = findPackageRoot();
    const v = root ? readAvgkPackage(root)?.version : undefined;
    version = typeof v === 'string' ? v : '0.0.0-unknown';
  }
  return version;
}
