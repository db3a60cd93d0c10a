import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The tests' dataset caches live in the repository's .cache/ (git-ignored), never in the user's
// ~/.cache: XDG_CACHE_HOME for the default folder, AVGK_CACHE_DIR for everything else.
const testCache = fileURLToPath(new URL('./.cache', import.meta.url));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { XDG_CACHE_HOME: testCache, AVGK_CACHE_DIR: join(testCache, 'avgk') },
    // builds the CUDA kernels for the CPU emulator once (test/cuda-*.test.ts)
    globalSetup: ['test/setup/cuda-emu.ts'],
    // Native addons and OpenMP threads are safest in child processes; two workers for two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
