/**
 * The addon under test, for the native test files. The addon must load in CI (where .ci/run builds
 * it) unless AVGK_BACKEND=js; elsewhere a missing addon skips those tests with the reason printed
 * (the rest of the suite runs on the TypeScript backend).
 */
import { loadAddon, type NativeAddon } from '../../src/backend/native/addon.js';

export function nativeUnderTest(file: string): { addon: NativeAddon | null; error: Error | null; skipNative: boolean } {
  const { addon, error } = loadAddon();
  const forcedJs = process.env.AVGK_BACKEND === 'js';
  const skipNative = forcedJs || (!addon && !process.env.CI);
  if (!addon && skipNative) {
    console.log(`${file}: skipped because the addon did not load${forcedJs ? ' and AVGK_BACKEND=js' : ' (outside CI)'}: ${error?.message}`);
  }
  return { addon, error, skipNative };
}
