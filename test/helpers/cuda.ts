/**
 * The CUDA backend under test: the CPU emulator's build of the CUDA addon (test/setup/cuda-emu.ts),
 * loaded through AVGK_CUDA_ADDON before anything touches CUDA. Without it (outside CI, no cmake)
 * the CUDA tests skip with the reason printed.
 */
import { join } from 'node:path';

export function cudaEmulatorUnderTest(file: string): { skip: boolean; dir: string } {
  const dir = process.env.AVGK_TEST_CUDA_EMU ?? '';
  if (!dir) {
    if (process.env.CI) throw new Error(`${file}: the emulated CUDA addon was not built (see test/setup/cuda-emu.ts)`);
    console.log(`${file}: skipped because the emulated CUDA addon was not built (outside CI)`);
    return { skip: true, dir };
  }
  process.env.AVGK_CUDA_ADDON = join(dir, 'avgk_cuda_emu.node');
  return { skip: false, dir };
}
