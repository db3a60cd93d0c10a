/**
 * The avgk command line: most cases in-process through runCli (fast), a few through the real
 * binary (bin/avgk.js → dist/, built by `npm test`'s pretest).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import type { CliIo } from '../src/cli/context.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { readTrainingCheckpoint } from '../src/train/checkpointing.js';
import { encodeIdx } from '../src/data/idx.js';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin', 'avgk.js');
const tmp = mkdtempSync(join(tmpdir(), 'avgk-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A tiny synthetic dataset: 6 classes, 6-dim vectors, 300 / 100 / 100 samples. */
const TINY = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 300, nVal: 100, nTest: 100 });
const TINY_ARGS = ['--dataset-config', TINY, '--hidden', '16', '--epochs', '2', '--batch-size', '32'];

interface Run {
  code: number;
  out: string;
  err: string;
}

function sink() {
  const s = { text: '', isTTY: false, write: (c: string) => ((s.text += c), true) };
  return s;
}

async function cli(argv: string[], extra: Partial<CliIo> & { onErr?: (chunk: string) => void } = {}): Promise<Run> {
  const out = sink();
  const err = sink();
  const { onErr, ...io } = extra;
  const stderr = { isTTY: false, write: (c: string) => (err.write(c), onErr?.(c), true) };
  const code = await runCli(argv, { stdout: out, stderr, cwd: tmp, ...io });
  return { code, out: out.text, err: err.text };
}

/** Exit code 2 and exactly one line `avgk: error: ...` on stderr, no stack trace. */
function expectUsageError(r: Run, pattern: RegExp): void {
  const lines = r.err.split('\n').filter((l) => l.length > 0);
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^avgk: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code).toBe(2);
}

let goodCkpt = '';

beforeAll(async () => {
  const r = await cli(['train', ...TINY_ARGS, '--out', 'good', '-q']);
  expect(r.code, r.err).toBe(0);
  goodCkpt = join(tmp, 'good', 'checkpoint.safetensors');
}, 60_000);

describe('help and usage', () => {
  it('prints help for the program and every command', async () => {
    const top = await cli([]);
    expect(top.code).toBe(0);
    expect(top.out).toMatch(/Usage: avgk/);
    for (const c of ['train', 'eval', 'predict', 'bench', 'compare']) {
      const r = await cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out).toMatch(new RegExp(`Usage: avgk ${c}`));
    }
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['train', '--epoch', '3'], /unknown option '--epoch'/],
    [['train', '--dataset', 'imagenet'], /unknown dataset 'imagenet'/],
    [['train', '--loss', 'hinge'], /unknown loss 'hinge'/],
    [['train', '--model', 'vgg'], /unknown model 'vgg'/],
    [['train', '--k', 'two'], /--k.*expected a number, got 'two'/],
    [['train', '--k', '0'], /K must be > 0/],
    [['train', '--k', '-1'], /K must be > 0/],
    [['train', '--k', '10'], /K must be in \(0, 10\) for fashion-mnist/],
    [['train', '--dataset', 'synthetic', '--k', '2', '20'], /K must be in \(0, 20\) for synthetic/],
    [['train', '--epochs', 'two'], /--epochs.*expected an integer/],
    [['train', '--epochs', '0'], /--epochs.*must be ≥ 1/],
    [['train', '--lr', 'fast'], /--lr.*expected a number/],
    [['train', '--batch-size', '1.5'], /--batch-size.*expected an integer/],
    [['train', '--limit', '1e3x'], /--limit.*expected an integer/],
    [['train', '--dataset-config', '{"name":"synthetic","numClasses":"x"}'], /dataset\.numClasses/],
    [['train', '--dataset-config', '{bad json'], /--dataset-config: invalid JSON/],
    [['train', '--dataset', 'cifar10'], /--dataset cifar10 needs --data-dir/],
    [['train', '--resume', 'nope.safetensors'], /checkpoint nope\.safetensors: no such file/],
    [['eval'], /required option '--checkpoint <file>' not specified/],
    [['eval', '--checkpoint', 'missing.safetensors'], /checkpoint missing\.safetensors: no such file/],
    [['eval', '--checkpoint', '.'], /checkpoint \.: is a directory/],
    [['predict', '--checkpoint', 'missing.safetensors'], /no such file/],
  ])('%j is one clear error line, exit 2, nothing written', async (argv, pattern) => {
    const out = join(tmp, `never-${Math.random().toString(36).slice(2)}`);
    const r = await cli([...argv, ...(argv[0] === 'train' && !argv.includes('--resume') ? ['--out', out] : [])]);
    expectUsageError(r, pattern);
    expect(existsSync(out)).toBe(false);
  });
});

describe('train / eval / predict on a tiny synthetic dataset', () => {
  it('train printed the results table and wrote checkpoint + report with four charts', async () => {
    const dir = join(tmp, 'good');
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.safetensors', 'report.html', 'summary.json', 'summary.md']);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(6); // the training curves are three panels
    expect(html).toMatch(/Bayes optimum/);
    expect(html).toMatch(/softmax threshold \(same model\)/);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.format).toBe('avgk-run-summary');
    expect(summary.test[0]).toMatchObject({ k: 2, head: 'method' });
    const ck = await readTrainingCheckpoint(goodCkpt);
    expect(ck.meta.status).toBe('complete');
    expect(ck.meta.hasBest).toBe(true);
    expect(Object.keys(ck.meta.thresholds)).toEqual(['2']);
    expect(ck.meta.calibrations.softmax).toHaveLength(1);
  });

  it('refuses an output directory holding another run unless --force', async () => {
    const r = await cli(['train', ...TINY_ARGS, '--out', 'good']);
    expectUsageError(r, /--out good: the directory already holds a run/);
    mkdirSync(join(tmp, 'forced'));
    writeFileSync(join(tmp, 'forced', 'summary.json'), '{}');
    const f = await cli(['train', ...TINY_ARGS, '--epochs', '1', '--out', 'forced', '--force', '-q', '--no-report']);
    expect(f.code, f.err).toBe(0);
    expect(f.out).toMatch(/avg-K acc/);
    expect(f.out).toMatch(/two-head \(multi-label head\)/);
    expect(f.out).toMatch(/softmax threshold \(same model\)/);
    expect(f.out).toMatch(/Bayes optimum/);
  });

  it('eval recomputes the metrics on a split, for other K too', async () => {
    const r = await cli(['eval', '--checkpoint', 'good/checkpoint.safetensors', '--split', 'val', '--k', '1', '2.5', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.split).toBe('val');
    const mine = j.rows.filter((row: { method: string }) => row.method.startsWith('two-head'));
    expect(mine.map((row: { k: number }) => row.k)).toEqual([1, 2.5]);
    expect(mine[0].meanSetSize).toBeCloseTo(1, 1); // calibrated on val itself
    const t = await cli(['eval', '--checkpoint', 'good/checkpoint.safetensors']);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/test results/);
    expectUsageError(await cli(['eval', '--checkpoint', 'good/checkpoint.safetensors', '--k', '6']), /K must be in \(0, 6\)/);
    expectUsageError(await cli(['eval', '--checkpoint', 'good/checkpoint.safetensors', '--split', 'dev']), /unknown split 'dev'/);
  });

  it('predict prints JSON lines, or writes them atomically with --out; reads IDX input', async () => {
    const r = await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--k', '1.5']);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(100);
    expect(lines[0].index).toBe(0);
    expect(lines[0].labels.length).toBe(lines[0].names.length);
    const mean = lines.reduce((s, l) => s + l.labels.length, 0) / lines.length;
    expect(mean).toBeGreaterThan(1);
    expect(mean).toBeLessThan(2.2);
    const w = await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--out', 'sets.jsonl', '-q']);
    expect(w.code).toBe(0);
    expect(readFileSync(join(tmp, 'sets.jsonl'), 'utf8').trim().split('\n')).toHaveLength(100);
    expectUsageError(await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--out', 'nodir/sets.jsonl']), /directory .*nodir does not exist/);
    // IDX float32 input of the right shape, and of a wrong one
    writeFileSync(join(tmp, 'x.idx'), encodeIdx({ shape: [3, 6], data: new Float32Array(18).fill(0.5) }));
    const x = await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--input', 'x.idx']);
    expect(x.code, x.err).toBe(0);
    expect(x.out.trim().split('\n')).toHaveLength(3);
    writeFileSync(join(tmp, 'y.idx'), encodeIdx({ shape: [3, 5], data: new Float32Array(15) }));
    expectUsageError(await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--input', 'y.idx']), /--input y\.idx: samples of shape \[5\] do not match/);
    expectUsageError(await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--input', 'none.idx']), /--input none\.idx/);
    expectUsageError(await cli(['predict', '--checkpoint', 'good/checkpoint.safetensors', '--input', 'x.idx', '--split', 'val']), /cannot be used with/);
  });

  it('rejects truncated, corrupted, wrong-version and wrong-size checkpoints', async () => {
    const raw = readFileSync(goodCkpt);
    writeFileSync(join(tmp, 'trunc.safetensors'), raw.subarray(0, Math.floor(raw.length / 2)));
    expectUsageError(await cli(['eval', '--checkpoint', 'trunc.safetensors']), /checkpoint trunc\.safetensors: truncated or corrupt/);
    const header = Buffer.from(raw);
    header.write('{"x', 8, 'latin1');
    writeFileSync(join(tmp, 'header.safetensors'), header);
    expectUsageError(await cli(['predict', '--checkpoint', 'header.safetensors']), /checkpoint header\.safetensors: /);
    writeFileSync(join(tmp, 'garbage.safetensors'), Buffer.from('definitely not a checkpoint'));
    expectUsageError(await cli(['train', '--resume', 'garbage.safetensors']), /checkpoint garbage\.safetensors: /);
    const dec = decodeSafetensors(raw);
    const meta = JSON.parse(dec.metadata.avgk);
    writeFileSync(join(tmp, 'v99.safetensors'), encodeSafetensors(dec.tensors, { avgk: JSON.stringify({ ...meta, formatVersion: 99 }) }));
    expectUsageError(await cli(['eval', '--checkpoint', 'v99.safetensors']), /format version 99 is not supported/);
    const name = Object.keys(dec.tensors).find((k) => k.startsWith('best.') && k.endsWith('weight'))!;
    const t = dec.tensors[name];
    const shrunk = { ...dec.tensors, [name]: { dtype: 'F32' as const, shape: [t.shape[0] - 1, t.shape[1]], data: (t.data as Float32Array).slice(t.shape[1]) } };
    // without the checksums (as written before they were stored), which would catch it first
    writeFileSync(join(tmp, 'size.safetensors'), encodeSafetensors(shrunk, { avgk: JSON.stringify({ ...meta, tensorCrc32: undefined }) }));
    expectUsageError(await cli(['eval', '--checkpoint', 'size.safetensors']), /weights do not fit the model/);
  });

  it('Ctrl-C finishes the step, writes a resumable checkpoint (exit 130); --resume ends bit-identical to an uninterrupted run', async () => {
    let handler: (() => void) | null = null;
    const onInterrupt = (h: () => void) => ((handler = h), () => void (handler = null));
    let fired = false;
    const r = await cli(['train', ...TINY_ARGS, '--out', 'int'], {
      onInterrupt,
      onErr: (chunk) => {
        if (!fired && /^epoch 1\/2 {2}batch/.test(chunk)) {
          fired = true;
          handler!();
        }
      },
    });
    expect(r.code, r.err).toBe(130);
    expect(r.err).toMatch(/interrupted at epoch 1, batch 1 of 10: wrote int\/checkpoint\.safetensors/);
    expect(readdirSync(join(tmp, 'int'))).toEqual(['checkpoint.safetensors']);
    const ck = await readTrainingCheckpoint(join(tmp, 'int', 'checkpoint.safetensors'));
    expect(ck.meta.status).toBe('interrupted');
    expect(ck.meta.trainState.batch).toBe(1);

    expectUsageError(await cli(['train', '--resume', 'int/checkpoint.safetensors', '--lr', '0.1']), /--lr cannot be given with --resume/);
    const res = await cli(['train', '--resume', 'int/checkpoint.safetensors', '-q']);
    expect(res.code, res.err).toBe(0);
    const a = decodeSafetensors(readFileSync(goodCkpt));
    const b = decodeSafetensors(readFileSync(join(tmp, 'int', 'checkpoint.safetensors')));
    const names = Object.keys(a.tensors).filter((k) => /^(model|best|optim)\./.test(k));
    expect(names.length).toBeGreaterThan(10);
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const n of names) {
      const x = a.tensors[n].data as Float32Array;
      const y = b.tensors[n].data as Float32Array;
      expect(Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength)), n).toBe(true);
    }
    // the same test table as the uninterrupted run (first line names the run, then the table)
    const good = await cli(['eval', '--checkpoint', 'good/checkpoint.safetensors']);
    const resumed = await cli(['eval', '--checkpoint', 'int/checkpoint.safetensors']);
    expect(resumed.out).toBe(good.out);
    // a finished run cannot be resumed without more epochs
    expectUsageError(await cli(['train', '--resume', 'int/checkpoint.safetensors']), /the run is complete \(2 epochs\)/);
  });

  it('Fashion-MNIST: a tiny real run has the four charts', async () => {
    const r = await cli(['train', '--limit', '500', '--val-size', '1000', '--epochs', '1', '--out', 'fm', '-q']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/fashion-mnist/);
    expect(r.out).toMatch(/softmax threshold \(same model\)/);
    expect(r.out).toMatch(/top-K acc/);
    const html = readFileSync(join(tmp, 'fm', 'report.html'), 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(6);
    for (const t of ['Training and validation curves', 'Average-K accuracy vs K', 'Predicted set sizes', 'Per-class average-K accuracy']) expect(html).toContain(t);
  }, 60_000);
});

describe('the real binary', () => {
  const built = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));

  it.runIf(built)('exit codes and one-line errors', () => {
    const bad = spawnSync(process.execPath, [BIN, 'train', '--dataset', 'synthetic', '--k', '0.5', '--loss', 'two-head', '--k', '0'], { cwd: tmp, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^avgk: error: .*K must be > 0/);
    const unknown = spawnSync(process.execPath, [BIN, 'nope'], { cwd: tmp, encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toBe("avgk: error: unknown command 'nope'\n");
    const help = spawnSync(process.execPath, [BIN, '--help'], { cwd: tmp, encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Commands:/);
  });

  it.runIf(built)('SIGINT after the first progress line: exit 130 and a resumable checkpoint', async () => {
    const cfg = JSON.stringify({ name: 'synthetic', numClasses: 10, numSuperclasses: 2, dim: 16, nTrain: 40000, nVal: 200, nTest: 200 });
    const child = spawn(process.execPath, [BIN, 'train', '--dataset-config', cfg, '--epochs', '3', '--out', 'sigint'], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      err += c;
      if (!sent && /epoch 1\/3 {2}batch/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    expect(sent, err).toBe(true);
    expect(code, err).toBe(130);
    expect(err).toMatch(/interrupted at epoch 1, batch \d+ of 313: wrote sigint\/checkpoint\.safetensors/);
    const ck = await readTrainingCheckpoint(join(tmp, 'sigint', 'checkpoint.safetensors'));
    expect(ck.meta.status).toBe('interrupted');
    expect(ck.meta.trainState.epoch).toBe(0);
    expect(ck.meta.trainState.batch).toBeGreaterThan(0);
  }, 30_000);
});
