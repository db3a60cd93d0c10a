import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // builds the CUDA kernels for the CPU emulator once (test/cuda-*.test.ts)
    globalSetup: ['test/setup/cuda-emu.ts'],
    // Native addons and OpenMP threads are safest in child processes; two workers for two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
