/** Backend selection: AVGK_BACKEND, the fallback warning, and the public query functions. */
import { describe, it, expect, vi, afterEach } from 'vitest';

async function freshBackendModule(env: string | undefined) {
  vi.resetModules();
  if (env === undefined) delete process.env.AVGK_BACKEND;
  else process.env.AVGK_BACKEND = env;
  return import('../src/backend/index.js');
}

const saved = process.env.AVGK_BACKEND;
afterEach(() => {
  if (saved === undefined) delete process.env.AVGK_BACKEND;
  else process.env.AVGK_BACKEND = saved;
});

describe('backend selection', () => {
  it('AVGK_BACKEND=js forces the TypeScript backend', async () => {
    const m = await freshBackendModule('js');
    expect(m.backendName()).toBe('js');
  });

  it('an unknown AVGK_BACKEND value is an error that names the value', async () => {
    const m = await freshBackendModule('cuda-magic');
    expect(() => m.backend()).toThrow(/unknown backend "cuda-magic" in AVGK_BACKEND \(expected "js" or "native"\)/);
  });

  it('default: native when the addon loads, otherwise js with one warning that says how to fix it', async () => {
    const m = await freshBackendModule(undefined);
    const { available, error } = m.nativeAvailable();
    const writes: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { writes.push(String(s)); return true; });
    try {
      expect(m.backendName()).toBe(available ? 'native' : 'js');
      m.backendName();
    } finally {
      spy.mockRestore();
    }
    if (available) {
      expect(writes).toHaveLength(0);
    } else {
      console.log(`native addon unavailable in this run: ${error}`);
      expect(writes).toHaveLength(1);
      expect(writes[0]).toMatch(/using the TypeScript backend/);
    }
  });

  it('AVGK_BACKEND=native either loads the addon or throws a clear error', async () => {
    const m = await freshBackendModule('native');
    if (m.nativeAvailable().available) expect(m.backendName()).toBe('native');
    else expect(() => m.backend()).toThrow(/AVGK_BACKEND=native but the native addon could not be loaded/);
  });

  it('in CI the native addon must be built and loadable (unless AVGK_BACKEND=js)', async () => {
    const m = await freshBackendModule(undefined);
    if (!process.env.CI || saved === 'js') {
      console.log('skipping the CI native-availability assertion: not in CI or AVGK_BACKEND=js');
      return;
    }
    expect(m.nativeAvailable()).toEqual({ available: true, error: null });
  });

  it('thread count is settable and validated', async () => {
    const m = await freshBackendModule('js');
    m.setNumThreads(2);
    expect(m.getNumThreads()).toBe(2);
    expect(() => m.setNumThreads(0)).toThrow(/positive integer/);
    expect(() => m.setBackend('tpu' as 'js')).toThrow(/unknown backend "tpu"/);
  });
});
