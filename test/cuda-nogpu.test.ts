/**
 * The real CUDA addon on machines without a GPU (CI): it is compiled by `npm install` wherever
 * nvcc is found (so a compile error fails this test, though never the install), it loads without
 * touching the GPU, and asking for the device gives one clear error with the CUDA error name,
 * exit code 2 from the CLI.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';

const root = findPackageRoot() ?? process.cwd();
const addon = join(root, 'build-cuda', 'Release', 'avgk_cuda.node');
const nvcc = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/cuda/bin'].some((d) => d && existsSync(join(d, 'nvcc')));
if (!nvcc) console.log('cuda-nogpu: the compile check is skipped because nvcc is not installed here (CI has it)');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : /\.(cc|h|cu)$/.test(e.name) ? statSync(p).mtimeMs : 0);
  }
  return t;
}

/** Runs a script in a fresh node (no cached addon state), with the real addon path. */
function node(args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const e = { ...process.env, ...env };
  delete e.AVGK_CUDA_ADDON;
  Object.assign(e, env);
  const r = spawnSync(process.execPath, args, { cwd: root, env: e, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('the CUDA addon without a GPU', () => {
  it.skipIf(!nvcc)('npm install compiled the CUDA addon (nvcc is here), and it is current', () => {
    const log = existsSync(join(root, 'build-cuda', 'build.log')) ? readFileSync(join(root, 'build-cuda', 'build.log'), 'utf8') : '(no build log)';
    expect(existsSync(addon), `build-cuda/Release/avgk_cuda.node is missing; the build said:\n${log.slice(-6000)}`).toBe(true);
    expect(statSync(addon).mtimeMs, 'the CUDA addon is older than its sources: run npm run build:cuda').toBeGreaterThanOrEqual(newest(join(root, 'native', 'cuda')));
  });

  it.skipIf(!nvcc)('loading works; using the device gives one error with the CUDA error name', () => {
    const probe = `import('./dist/src/index.js').then((m) => {
      const r = m.cudaAvailable();
      console.log(JSON.stringify(r));
      if (r.available) return;
      try { m.tensor([1, 2]).to('cuda'); console.log('no error'); } catch (e) { console.log(e.name + ' ' + e.cudaError + ' ' + e.message); }
    });`;
    const r = node(['-e', probe]);
    expect(r.code, r.err).toBe(0);
    const status = JSON.parse(r.out.split('\n')[0]!) as { available: boolean; error: string | null };
    if (status.available) {
      console.log('cuda-nogpu: this machine has a usable GPU; the no-GPU error path was not exercised');
      return;
    }
    expect(status.error).toMatch(/^avgk: CUDA is not usable: cudaGetDeviceCount: cudaError\w+ \(/);
    expect(r.out.split('\n')[1]).toMatch(/^DeviceError cudaError\w+ avgk: CUDA is not usable: .*use the device "cpu"$/);
    const cli = node(['bin/avgk.js', 'train', '--device', 'cuda', '--dataset', 'synthetic', '--epochs', '1', '--quiet']);
    expect(cli.code).toBe(2);
    expect(cli.err.trim().split('\n')).toHaveLength(1);
    expect(cli.err).toMatch(/^avgk: error: --device cuda: CUDA is not usable: cudaGetDeviceCount: cudaError\w+/);
  });

  it('a missing addon is one clear error, and the library still works on the CPU', () => {
    const probe = `import('./dist/src/index.js').then((m) => {
      console.log(JSON.stringify(m.cudaAvailable()));
      console.log(m.tensor([1, 2]).add(1).toFlatArray().join(','));
    });`;
    const r = node(['-e', probe], { AVGK_CUDA_ADDON: join(root, 'no-such-addon.node') });
    expect(r.code, r.err).toBe(0);
    const [status, sum] = r.out.trim().split('\n');
    expect(JSON.parse(status!).error).toMatch(/no-such-addon\.node does not exist \(the CUDA addon was not built\); install the CUDA toolkit \(nvcc\) and run `npm run build:cuda`/);
    expect(sum).toBe('2,3');
    const cli = node(['bin/avgk.js', 'train', '--device', 'cuda', '--dataset', 'synthetic', '--epochs', '1', '--quiet'], { AVGK_CUDA_ADDON: join(root, 'no-such-addon.node') });
    expect(cli.code).toBe(2);
    expect(cli.err.trim().split('\n')).toHaveLength(1);
    expect(cli.err).toMatch(/^avgk: error: --device cuda: cannot use CUDA: .*the CUDA addon was not built/);
  });
});
