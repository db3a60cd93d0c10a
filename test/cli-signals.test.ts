/**
 * Runs that stop or share an output directory: SIGTERM and SIGHUP stop training like Ctrl-C
 * (resumable checkpoint, exit 128 + the signal's number), and a run directory is locked while
 * a train or compare writes it (a second run there is an error naming the first one's pid; the
 * lock of a dead process does not block). The signals need the real binary (bin/avgk.js → dist/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { readTrainingCheckpoint } from '../src/train/checkpointing.js';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin', 'avgk.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const tmp = mkdtempSync(join(tmpdir(), 'avgk-signals-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const TINY = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 300, nVal: 100, nTest: 100 });
const TINY_ARGS = ['--dataset-config', TINY, '--hidden', '16', '--epochs', '1', '--batch-size', '32', '-q', '--no-report'];
/** Large enough that training lasts while the test signals it (it is stopped long before the end). */
const LONG = JSON.stringify({ name: 'synthetic', numClasses: 10, numSuperclasses: 2, dim: 16, nTrain: 40000, nVal: 200, nTest: 200 });

async function cli(argv: string[], cwd = tmp): Promise<{ code: number; out: string; err: string }> {
  const out = { text: '', write: (c: string) => ((out.text += c), true) };
  const err = { text: '', write: (c: string) => ((err.text += c), true) };
  const code = await runCli(argv, { stdout: out, stderr: err, cwd });
  return { code, out: out.text, err: err.text };
}

function expectOneError(r: { code: number | null; err: string }, pattern: RegExp): void {
  const lines = r.err.split('\n').filter((l) => l.startsWith('avgk: error:'));
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code, r.err).toBe(2);
}

/** Starts a long training run into `out` and resolves once it trains (its lock exists and its signal handlers are set). */
async function startLongRun(out: string): Promise<{ child: ChildProcess; stderr: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'train', '--dataset-config', LONG, '--epochs', '3', '--out', out], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AVGK_BACKEND: 'js' } });
  children.push(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const lock = join(tmp, out, '.avgk.lock');
  for (let i = 0; i < 600 && !existsSync(lock) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  expect(existsSync(lock), err).toBe(true);
  // the handlers are set in the same synchronous stretch as the lock; leave that stretch time to end
  await new Promise((r) => setTimeout(r, 500));
  return { child, stderr: () => err, exit };
}

describe.runIf(BUILT)('signals', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s finishes the step and writes a resumable checkpoint (exit %i)', async (signal, code) => {
    const out = `sig-${signal}`;
    const run = await startLongRun(out);
    run.child.kill(signal);
    expect(await run.exit, run.stderr()).toBe(code);
    expect(run.stderr()).toMatch(new RegExp(`interrupted \\(${signal}\\): finishing the current step`));
    expect(run.stderr()).toMatch(new RegExp(`interrupted at epoch 1, batch \\d+ of 313: wrote ${out}/checkpoint\\.safetensors`));
    const ck = await readTrainingCheckpoint(join(tmp, out, 'checkpoint.safetensors'));
    expect(ck.meta.status).toBe('interrupted');
    expect(ck.meta.trainState.batch).toBeGreaterThan(0);
    expect(readdirSync(join(tmp, out))).not.toContain('.avgk.lock');
  }, 60_000);
});

describe.runIf(BUILT)('a closed stderr', () => {
  it('SIGHUP after the reader of stderr is gone still writes the checkpoint (exit 129)', async () => {
    const run = await startLongRun('hup-closed');
    run.child.stderr!.destroy();
    run.child.kill('SIGHUP');
    expect(await run.exit).toBe(129);
    const ck = await readTrainingCheckpoint(join(tmp, 'hup-closed', 'checkpoint.safetensors'));
    expect(ck.meta.status).toBe('interrupted');
  }, 60_000);
});

describe('a locked run directory', () => {
  it.runIf(BUILT)('a second train into the same --out fails naming the first one\'s pid; the first is unharmed', async () => {
    const run = await startLongRun('shared');
    const second = spawnSync(process.execPath, [BIN, 'train', '--dataset-config', LONG, '--epochs', '3', '--out', 'shared', '--force'], { cwd: tmp, encoding: 'utf8', env: { ...process.env, AVGK_BACKEND: 'js' } });
    expectOneError({ code: second.status, err: second.stderr }, new RegExp(`^avgk: error: --out shared: the directory is in use by pid ${run.child.pid} \\(avgk train, since .*\\); wait for it to finish, or remove shared/\\.avgk\\.lock if that process is gone$`));
    run.child.kill('SIGTERM');
    expect(await run.exit, run.stderr()).toBe(143);
    const ck = await readTrainingCheckpoint(join(tmp, 'shared', 'checkpoint.safetensors'));
    expect(ck.meta.status).toBe('interrupted');
  }, 60_000);

  it('the lock of a live process blocks train and compare; the lock of a dead one does not', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    children.push(sleeper);
    mkdirSync(join(tmp, 'held'));
    writeFileSync(join(tmp, 'held', '.avgk.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), command: 'avgk train' }));
    const t = await cli(['train', ...TINY_ARGS, '--out', 'held']);
    expectOneError(t, new RegExp(`^avgk: error: --out held: the directory is in use by pid ${sleeper.pid} \\(avgk train\\)`));
    writeFileSync(join(tmp, 'cmp.json'), JSON.stringify({ dataset: JSON.parse(TINY), methods: ['softmax'], ks: [2], seeds: [0], epochs: 1, model: { name: 'mlp', hidden: [8] }, batchSize: 50, optimizer: { name: 'sgd', lr: 0.05 }, schedule: { name: 'cosine' } }));
    const c = await cli(['compare', '--config', 'cmp.json', '--out', 'held', '--no-report']);
    expectOneError(c, new RegExp(`in use by pid ${sleeper.pid}`));
    sleeper.kill('SIGKILL');
    await new Promise((r) => sleeper.on('exit', r));
    // now its pid is dead: the stale lock is taken over, and removed at the end
    const again = await cli(['train', ...TINY_ARGS, '--out', 'held']);
    expect(again.code, again.err).toBe(0);
    expect(readdirSync(join(tmp, 'held'))).not.toContain('.avgk.lock');
    writeFileSync(join(tmp, 'held', '.avgk.lock'), JSON.stringify({ pid: sleeper.pid, host: hostname(), command: 'avgk compare' }));
    const cmp = await cli(['compare', '--config', 'cmp.json', '--out', 'held', '--no-report']);
    expect(cmp.code, cmp.err).toBe(0);
    expect(readdirSync(join(tmp, 'held'))).not.toContain('.avgk.lock');
  }, 60_000);

  it.runIf(BUILT)('two runs started together without --out get a directory each', async () => {
    const cwd = join(tmp, 'default');
    mkdirSync(cwd);
    const start = (): Promise<{ code: number | null; err: string }> =>
      new Promise((res) => {
        const c = spawn(process.execPath, [BIN, 'train', ...TINY_ARGS], { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, AVGK_BACKEND: 'js' } });
        children.push(c);
        let err = '';
        c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
        c.on('exit', (code) => res({ code, err }));
      });
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    const runs = readdirSync(join(cwd, 'runs'));
    expect(runs).toHaveLength(2);
    for (const r of runs) expect(readdirSync(join(cwd, 'runs', r))).toEqual(['checkpoint.safetensors']);
  }, 60_000);
});
