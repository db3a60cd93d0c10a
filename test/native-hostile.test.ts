/**
 * Hostile calls of the native addons, each in its own child process (test/fixtures/native-hostile.mjs)
 * so that a crash fails its case instead of the runner: getters on geometry objects and shape /
 * stride arrays that detach, transfer or shrink (resizable ArrayBuffer) a buffer of the call;
 * SharedArrayBuffer inputs that a Worker changes during the call; convolutions whose im2col would
 * need gigabytes. Every case must end with a clean exit: a JS Error naming the op, or (huge
 * geometries) the right answer within bounded memory. A signal or abort fails the case.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonPath } from '../src/backend/native/addon.js';
import { findPackageRoot } from '../src/io/package.js';
import { cudaEmulatorUnderTest } from './helpers/cuda.js';
import { nativeUnderTest } from './helpers/native.js';

const root = findPackageRoot() ?? process.cwd();
const fixture = join(root, 'test', 'fixtures', 'native-hostile.mjs');
const { skipNative } = nativeUnderTest('native-hostile');
const cuda = cudaEmulatorUnderTest('native-hostile');

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  result: { threw: boolean; message: string; [k: string]: unknown } | null;
}

// Asynchronous, so the worker's event loop keeps answering vitest while a case runs.
function hostile(addon: string, name: string, timeoutMs = 240_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', fixture, addon, name], {
      cwd: root,
      // passive OpenMP waiting: the other vitest worker shares the cores
      env: { OMP_WAIT_POLICY: 'passive', ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, signal: null, out: `${out}\n${e.message}`, result: null });
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      let result: Outcome['result'] = null;
      try {
        result = JSON.parse(line) as Outcome['result'];
      } catch {
        result = null;
      }
      resolve({ code, signal, out, result });
    });
  });
}

/** The case ended on its own (no signal, exit 0) and reported; returns its report. */
function clean(o: Outcome): NonNullable<Outcome['result']> {
  expect(o.signal, `killed by ${o.signal}:\n${o.out.slice(-2000)}`).toBeNull();
  expect(o.code, o.out.slice(-2000)).toBe(0);
  expect(o.result, o.out.slice(-2000)).not.toBeNull();
  return o.result!;
}

// [case, op, what the error must say]
const refused: [string, string, RegExp][] = [
  ['binary-detach-out', 'binary', /out \(argument 8\) has a detached ArrayBuffer/],
  ['binary-detach-a', 'binary', /a \(argument 2\) has a detached ArrayBuffer/],
  ['copy-detach-out', 'copy', /out \(argument 4\) has a detached ArrayBuffer/],
  ['binary-shrink-out', 'binary', /out has 0 elements but shape \[4194304\] needs 4194304/],
  ['maxPool2dForward-detach-out', 'maxPool2dForward', /out \(argument 2\) has a detached ArrayBuffer/],
  ['avgPool2dForward-detach-x', 'avgPool2dForward', /x \(argument 1\) has a detached ArrayBuffer/],
  ['conv2dForward-transfer-out', 'conv2dForward', /out \(argument 4\) has a detached ArrayBuffer/],
  ['conv2dForward-shrink-out', 'conv2dForward', /out has 0 elements but out \[n,o,oh,ow\] for .* needs 1048576/],
  ['conv2dBackwardWeight-shrink-gw', 'conv2dBackwardWeight', /gw has 0 elements but gw \[o,c,kh,kw\] for .* needs 2304/],
  ['unary-shared-out', 'unary', /out \(argument 3\) is backed by a SharedArrayBuffer/],
  ['softmaxCrossEntropy-shared-race', 'softmaxCrossEntropy', /labels \(argument 2\) is backed by a SharedArrayBuffer/],
  ['maxPool2dBackward-shared-race', 'maxPool2dBackward', /argmax \(argument 2\) is backed by a SharedArrayBuffer/],
];

describe.skipIf(skipNative)('native addon: hostile arguments (one child process per case)', () => {
  for (const [name, op, says] of refused) {
    it(`${name}: a JS error naming ${op}, no crash`, async () => {
      const r = clean(await hostile(addonPath(), name));
      expect(r.threw).toBe(true);
      expect(r.message).toMatch(new RegExp(`^avgk native ${op}: `));
      expect(r.message).toMatch(says);
      // the kernel never ran on the buffer transferred away
      if (name === 'conv2dForward-transfer-out') expect(r.transferredWrittenTo).toBe(false);
    }, 60_000);
  }

  // Without the bound, one image's im2col is 318 MB (tiled) and 17.5 GB (huge).
  for (const name of ['conv2dForward-tiled', 'conv2dBackwardInput-tiled', 'conv2dBackwardWeight-tiled', 'conv2dForward-huge']) {
    it(`${name}: the right answer in bounded memory`, async () => {
      const r = clean(await hostile(addonPath(), name, 290_000));
      expect(r.message).toBe('');
      expect(r.threw).toBe(false);
      expect(r.relErr as number).toBeLessThan(1e-4);
      expect(r.maxRssMb as number).toBeLessThan(250);
    }, 300_000);
  }
});

// The CUDA addon's binding reads device views the same way (CPU emulator build).
const refusedCuda: [string, string, RegExp][] = [
  ['cuda-conv2dForward-free-out', 'conv2dForward', /out has been disposed \(its device memory was freed\)/],
  ['cuda-maxPool2dForward-free-out', 'maxPool2dForward', /argmax has been disposed \(its device memory was freed\)/],
  ['cuda-copy-free-x', 'copy', /x was disposed while the arguments were read/],
  ['cuda-binary-free-in-view-getter', 'binary', /a was disposed while the arguments were read/],
  ['cuda-upload-shared-host', 'upload', /host \(argument 2\) is backed by a SharedArrayBuffer/],
  ['cuda-download-shrink-host', 'download', /host has 0 elements but the device view has 1048576/],
  // one image's im2col (262144 x 16644 floats) over the cap: refused, not allocated
  ['cuda-conv2dForward-huge-scratch', 'conv2dForward', /conv2d forward: one image needs 17452498944 bytes of im2col scratch \(262144 x 16644 floats\), more than the 2147483648-byte cap, for n=1 c=64 h=128 w=128 o=1 kh=64 kw=64 stride=1 pad=32$/],
  ['cuda-conv2dBackwardWeight-huge-scratch', 'conv2dBackwardWeight', /conv2d backward weight: one image needs 17452498944 bytes .* kh=64 kw=64 stride=1 pad=32$/],
];

describe.skipIf(cuda.skip)('CUDA addon (emulator): hostile arguments (one child process per case)', () => {
  for (const [name, op, says] of refusedCuda) {
    it(`${name}: a JS error naming ${op}, no crash`, async () => {
      const r = clean(await hostile(join(cuda.dir, 'avgk_cuda_emu.node'), name));
      expect(r.threw).toBe(true);
      expect(r.message).toMatch(new RegExp(`^avgk cuda ${op}: `));
      expect(r.message).toMatch(says);
    }, 60_000);
  }
});
