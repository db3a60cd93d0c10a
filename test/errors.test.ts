/** avgk's errors carry stable codes (src/errors.ts), and the CLI maps them to exit codes. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMethod, loadDataset, backend, loadPredictor, AvgkError, UsageError, DataError, CheckpointError, DeviceError, NativeError } from '../src/index.js';
import { errorCode } from '../src/errors.js';
import { parseCompareConfig } from '../src/train/config.js';
import { runCli } from '../src/cli/main.js';
import { tempDir } from './helpers/tmp.js';

function codeOf(f: () => unknown): string | null {
  try {
    f();
  } catch (e) {
    return errorCode(e);
  }
  return 'no error';
}

async function codeOfAsync(f: () => Promise<unknown>): Promise<string | null> {
  try {
    await f();
  } catch (e) {
    return errorCode(e);
  }
  return 'no error';
}

describe('error types', () => {
  it('each kind of failure has its class and code', async () => {
    expect(codeOf(() => createMethod('two-head', { k: 2, numClasses: 10, mu: -1 }))).toBe('ERR_AVGK_USAGE');
    expect(codeOf(() => createMethod('nope', { k: 2, numClasses: 10 }))).toBe('ERR_AVGK_USAGE');
    expect(codeOf(() => parseCompareConfig('{"dataset":{"name":"x"}}'))).toBe('ERR_AVGK_USAGE');
    expect(codeOf(() => loadDataset({ name: 'cifar10', dir: '/no/such/dir' }))).toBe('ERR_AVGK_DATA');
    expect(codeOf(() => backend().unary(99 as never, new Float32Array(1), new Float32Array(1), 0, 0))).toBe(backend().name === 'native' ? 'ERR_AVGK_NATIVE' : 'no error');
    const dir = tempDir('avgk-errors-');
    writeFileSync(join(dir, 'bad.safetensors'), 'not a checkpoint');
    expect(await codeOfAsync(() => loadPredictor(join(dir, 'bad.safetensors')))).toBe('ERR_AVGK_CHECKPOINT');
    for (const [E, code] of [[UsageError, 'ERR_AVGK_USAGE'], [DataError, 'ERR_AVGK_DATA'], [CheckpointError, 'ERR_AVGK_CHECKPOINT']] as const) {
      const e = new E('x');
      expect(e).toBeInstanceOf(AvgkError);
      expect(e.code).toBe(code);
      expect(e.name).toBe(E.name);
    }
    expect(new DeviceError('x', 'cudaErrorNoDevice').code).toBe('ERR_AVGK_DEVICE');
    // the addons' errors are plain Errors with the native code: instanceof NativeError tests it
    let nativeErr: unknown = null;
    try {
      backend().unary(99 as never, new Float32Array(1), new Float32Array(1), 0, 0);
    } catch (e) {
      nativeErr = e;
    }
    if (backend().name === 'native') expect(nativeErr).toBeInstanceOf(NativeError);
    expect(new Error('plain')).not.toBeInstanceOf(NativeError);
    expect(new NativeError('x').code).toBe('ERR_AVGK_NATIVE');
  });

  it('the CLI maps data and checkpoint errors to exit code 2 with one line', async () => {
    const dir = tempDir('avgk-errors-cli-');
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (c: string) => ((err += c), true) }, cwd: dir };
    const code = await runCli(['train', '--dataset', 'cifar10', '--data-dir', join(dir, 'none'), '--quiet'], io as never);
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^avgk: error: .*CIFAR-10: missing files/);
  });
});
