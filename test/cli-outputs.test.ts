/**
 * Where the CLI writes: output paths that are not regular files (symlinks, FIFOs, /dev/stdout),
 * output directories that are not writable, a full stdout, temporary files left by killed
 * writes, option values that are flags, configs with a byte-order mark, repeated options.
 * In-process through runCli where possible; the real binary (bin/avgk.js → dist/) for stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { readTrainingCheckpoint } from '../src/train/checkpointing.js';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin', 'avgk.js');
const BUILT = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const tmp = mkdtempSync(join(tmpdir(), 'avgk-outputs-'));
const undo: (() => void)[] = [];
afterAll(() => {
  for (const u of undo) u();
  rmSync(tmp, { recursive: true, force: true });
});

const TINY = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 300, nVal: 100, nTest: 100 });
const TINY_ARGS = ['--dataset-config', TINY, '--hidden', '16', '--epochs', '2', '--batch-size', '32', '-q'];

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[], cwd = tmp): Promise<Run> {
  const out = { text: '', isTTY: false, write: (c: string) => ((out.text += c), true) };
  const err = { text: '', isTTY: false, write: (c: string) => ((err.text += c), true) };
  const code = await runCli(argv, { stdout: out, stderr: err, cwd });
  return { code, out: out.text, err: err.text };
}

/** The binary, with the TypeScript backend so that no note about the native addon is printed. */
function bin(args: string[], stdio: ('pipe' | 'ignore' | number)[] = ['ignore', 'pipe', 'pipe']) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', stdio, env: { ...process.env, AVGK_BACKEND: 'js' } });
}

/** Exactly one line `avgk: error: ...` matching `pattern`, no stack trace, exit code `code`. */
function expectOneError(r: { code: number | null; err: string }, pattern: RegExp, code = 2): void {
  const lines = r.err.split('\n').filter((l) => l.length > 0);
  expect(lines, r.err).toHaveLength(1);
  expect(lines[0]).toMatch(/^avgk: error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.code, r.err).toBe(code);
}

/** A directory nobody can create files in, root included (chattr +i); null where that is impossible. */
function readOnlyDir(name: string): string | null {
  const dir = join(tmp, name);
  mkdirSync(dir);
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o555);
    undo.push(() => chmodSync(dir, 0o755));
    return dir;
  }
  if (spawnSync('chattr', ['+i', dir]).status !== 0) return null;
  undo.push(() => void spawnSync('chattr', ['-i', dir]));
  return dir;
}

let ckpt = '';
beforeAll(async () => {
  const r = await cli(['train', ...TINY_ARGS, '--out', 'run', '--no-report']);
  expect(r.code, r.err).toBe(0);
  ckpt = join(tmp, 'run', 'checkpoint.safetensors');
}, 60_000);

describe('output directories that are not writable', () => {
  it('train, predict and compare fail before any work, with one line and exit 2', async (t) => {
    const ro = readOnlyDir('ro');
    if (ro === null) {
      console.log('skipping: running as root and chattr +i is not permitted here, so no directory is read-only');
      t.skip();
      return;
    }
    const train = await cli(['train', ...TINY_ARGS, '--epochs', '50', '--out', 'ro']);
    expectOneError(train, /^avgk: error: --out ro: cannot write in the directory \((EACCES|EPERM|EROFS)\)$/);
    const predict = await cli(['predict', '--checkpoint', ckpt, '--out', 'ro/sets.jsonl']);
    expectOneError(predict, /^avgk: error: --out ro\/sets\.jsonl: cannot write it \((EACCES|EPERM|EROFS)\)$/);
    writeFileSync(join(tmp, 'cmp.json'), JSON.stringify({ dataset: JSON.parse(TINY), methods: ['softmax'], ks: [2], seeds: [0], epochs: 1, model: { name: 'mlp', hidden: [8] }, batchSize: 50, optimizer: { name: 'sgd', lr: 0.05 }, schedule: { name: 'cosine' } }));
    const compare = await cli(['compare', '--config', 'cmp.json', '--out', 'ro']);
    expectOneError(compare, /^avgk: error: --out ro: cannot write in the directory/);
    expect(readdirSync(ro)).toEqual([]);
  });
});

describe('predict --out on what is not a regular file', () => {
  it('a symlink is followed to the file it names; the link stays', async () => {
    writeFileSync(join(tmp, 'target.jsonl'), 'old\n');
    symlinkSync('target.jsonl', join(tmp, 'link.jsonl'));
    const r = await cli(['predict', '--checkpoint', ckpt, '--out', 'link.jsonl', '-q']);
    expect(r.code, r.err).toBe(0);
    expect(lstatSync(join(tmp, 'link.jsonl')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(tmp, 'target.jsonl'), 'utf8').trim().split('\n')).toHaveLength(100);
    // a dangling link names the file to create
    mkdirSync(join(tmp, 'sub'));
    symlinkSync('sub/new.jsonl', join(tmp, 'dangling.jsonl'));
    const d = await cli(['predict', '--checkpoint', ckpt, '--out', 'dangling.jsonl', '-q']);
    expect(d.code, d.err).toBe(0);
    expect(lstatSync(join(tmp, 'dangling.jsonl')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(tmp, 'sub', 'new.jsonl'), 'utf8').trim().split('\n')).toHaveLength(100);
  });

  it('a named pipe is written through, not replaced', async (t) => {
    const fifo = join(tmp, 'pipe.jsonl');
    if (spawnSync('mkfifo', [fifo]).status !== 0) {
      console.log('skipping: mkfifo is not available');
      t.skip();
      return;
    }
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let got = '';
    reader.stdout.setEncoding('utf8').on('data', (c: string) => (got += c));
    const done = new Promise<void>((res) => reader.on('exit', () => res()));
    const r = await cli(['predict', '--checkpoint', ckpt, '--out', 'pipe.jsonl', '-q']);
    const timer = setTimeout(() => reader.kill(), 5000); // a replaced pipe leaves cat waiting
    await done;
    clearTimeout(timer);
    expect(r.code, r.err).toBe(0);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(got.trim().split('\n')).toHaveLength(100);
  });

  it.runIf(BUILT && process.platform === 'linux')('a link to /proc/self/fd/1 (what /dev/stdout is) prints to stdout', () => {
    symlinkSync('/proc/self/fd/1', join(tmp, 'stdout-link'));
    const r = bin(['predict', '--checkpoint', ckpt, '--out', 'stdout-link', '-q']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(100);
    expect(r.stdout).toMatch(/^\{"index":0,/);
    expect(lstatSync(join(tmp, 'stdout-link')).isSymbolicLink()).toBe(true);
  });
});

describe.runIf(BUILT && existsSync('/dev/full'))('a full stdout', () => {
  it('is one line and exit code 1, not a stack trace', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const h = bin(['--help'], ['ignore', fd, 'pipe']);
      expectOneError({ code: h.status, err: h.stderr }, /^avgk: error: cannot write to stdout \(ENOSPC\)$/, 1);
      const p = bin(['predict', '--checkpoint', ckpt, '-q'], ['ignore', fd, 'pipe']);
      expectOneError({ code: p.status, err: p.stderr }, /cannot write to stdout \(ENOSPC\)/, 1);
    } finally {
      closeSync(fd);
    }
  });
});

describe('temporary files of killed writes', () => {
  it('are removed by the next run in that directory; those of live writers are kept', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const dir = join(tmp, 'run');
    const stale = `.checkpoint.safetensors.${dead}.0123456789ab.tmp`;
    const live = `.summary.json.${process.pid}.0123456789ab.tmp`;
    writeFileSync(join(dir, stale), 'partial');
    writeFileSync(join(dir, live), 'being written');
    const r = await cli(['train', ...TINY_ARGS, '--epochs', '1', '--out', 'run', '--force', '--no-report']);
    expect(r.code, r.err).toBe(0);
    const names = readdirSync(dir);
    expect(names).not.toContain(stale);
    expect(names).toContain(live);
    rmSync(join(dir, live));
    // predict cleans the directory of its --out
    writeFileSync(join(tmp, `.sets.jsonl.${dead}.0123456789ab.tmp`), 'partial');
    const p = await cli(['predict', '--checkpoint', ckpt, '--out', 'sets.jsonl', '-q']);
    expect(p.code, p.err).toBe(0);
    expect(readdirSync(tmp)).not.toContain(`.sets.jsonl.${dead}.0123456789ab.tmp`);
  });
});

describe('option values', () => {
  it('a value that is a flag is an error, not a folder named --force', async () => {
    const r = await cli(['train', ...TINY_ARGS, '--out', '--force']);
    expectOneError(r, /^avgk: error: --out needs a value, got the option '--force' \(write --out=--force if that is the value\)$/);
    expect(existsSync(join(tmp, '--force'))).toBe(false);
    const p = await cli(['predict', '--checkpoint', '-q', '--out', 'x.jsonl']);
    expectOneError(p, /^avgk: error: --checkpoint needs a value, got the option '-q'/);
    // negative numbers are values; --opt=value says a dash is meant
    const neg = await cli(['train', ...TINY_ARGS, '--seed', '-1']);
    expectOneError(neg, /--seed.*must be ≥ 0, got -1/);
    const eq = await cli(['predict', '--checkpoint', ckpt, '--out=-dash.jsonl', '-q']);
    expect(eq.code, eq.err).toBe(0);
    expect(existsSync(join(tmp, '-dash.jsonl'))).toBe(true);
  });

  it('a repeated option takes its last value, as the help says; --k values add up', async () => {
    const help = await cli(['--help']);
    expect(help.out).toMatch(/An option given twice takes its last value\s+\(--k values add up/);
    const r = await cli(['train', ...TINY_ARGS, '--epochs', '1', '--k', '1.5', '--k', '2', '--out', 'twice', '--no-report']);
    expect(r.code, r.err).toBe(0);
    const ck = await readTrainingCheckpoint(join(tmp, 'twice', 'checkpoint.safetensors'));
    expect(ck.meta.trainState.epoch).toBe(1);
    expect(ck.meta.config.ks).toEqual([1.5, 2]);
  });

  it('config files with a UTF-8 byte-order mark are read', async () => {
    writeFileSync(join(tmp, 'bom-data.json'), '\uFEFF' + TINY);
    const t = await cli(['train', '--dataset-config', 'bom-data.json', '--hidden', '8', '--epochs', '1', '-q', '--no-report', '--out', 'bom-train']);
    expect(t.code, t.err).toBe(0);
    writeFileSync(join(tmp, 'bom-cmp.json'), '\uFEFF' + JSON.stringify({ dataset: JSON.parse(TINY), methods: ['softmax'], ks: [2], seeds: [0], epochs: 1, model: { name: 'mlp', hidden: [8] }, batchSize: 50, optimizer: { name: 'sgd', lr: 0.05 }, schedule: { name: 'cosine' } }));
    const c = await cli(['compare', '--config', 'bom-cmp.json', '--out', 'bom-cmp', '--no-report']);
    expect(c.code, c.err).toBe(0);
    expect(existsSync(join(tmp, 'bom-cmp', 'results.json'))).toBe(true);
  }, 60_000);
});

describe.runIf(BUILT)('avgk bench', () => {
  it('a bad option is one avgk: error: line and exit 2', () => {
    const r = bin(['bench', '--nope']);
    expectOneError({ code: r.status, err: r.stderr }, /^avgk: error: unknown option "--nope"/);
    const v = bin(['bench', '--threads', 'abc']);
    expectOneError({ code: v.status, err: v.stderr }, /^avgk: error: --threads: expected a positive integer, got "abc"/);
  });
});
