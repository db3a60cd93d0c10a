/**
 * The Node side of the GPU check (bench/gpu-check.sh, step 4), and the summary of the whole check.
 *
 *   node dist/bench/gpu/check.js [--tiny] [--json FILE] [--budget S] [--only LIST] [--python PY]
 *        sections, each in its own child process: env, parity (every op on 'cuda' against 'cpu'
 *        through the public API), memory (20,000 training steps: device memory flat), bench (SGEMM
 *        fp32 / TF32, ResNet-18 two-head step, selectKth, fused losses, device copies), then the
 *        PyTorch peer (bench/peers/torch_gpu.py) and the targets. Exits 2 with one line when no
 *        GPU is usable.
 *   --tiny        small sizes (runs on the CPU emulator's addon: AVGK_CUDA_ADDON=...emu.node)
 *   --peer-cpu    let the PyTorch peer run on the CPU when it has no CUDA (tests this script only)
 *   node dist/bench/gpu/check.js --summarize DIR --json FILE
 *        merges what bench/gpu-check.sh recorded in DIR (steps.tsv, logs/, env.txt, node-check.json,
 *        cpu-bench.json) into FILE and prints the final table.
 *
 * A section's child writes its results after every case, so a crash (a CUDA error, a missing
 * kernel symbol) loses one case: the parent records it and restarts the child after that case.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Tensor } from '../../src/tensor/tensor.js';
import { tidy } from '../../src/tensor/scope.js';
import { Rng } from '../../src/data/rng.js';
import { noGrad } from '../../src/autograd/grad-mode.js';
import * as E from '../../src/autograd/ops/elementwise.js';
import * as R from '../../src/autograd/ops/reduce.js';
import * as S from '../../src/autograd/ops/shaping.js';
import { matmul } from '../../src/autograd/ops/matmul.js';
import { softmax, logSoftmax } from '../../src/autograd/ops/softmax.js';
import { softmaxCrossEntropy, sigmoidBce } from '../../src/autograd/ops/loss.js';
import { conv2d, maxPool2d, avgPool2d, globalAvgPool2d, batchNorm, dropout } from '../../src/autograd/ops/nn.js';
import { kthLargest } from '../../src/autograd/ops/select.js';
import { pseudoLabelTargets } from '../../src/avgk/pseudo-labels.js';
import { calibrateThreshold } from '../../src/avgk/calibrate.js';
import { buildModel } from '../../src/avgk/model.js';
import { createMethod } from '../../src/avgk/losses.js';
import { SGD, Adam } from '../../src/optim/optimizer.js';
import { backend, backendName } from '../../src/backend/index.js';
import {
  cudaAvailable, cudaBackend, cudaDeviceInfo, cudaFromHost, cudaAlloc, cudaMemStats, cudaSynchronize, setTf32, getTf32,
  type CudaStorage,
} from '../../src/backend/cuda/index.js';
import { cudaAddonPath } from '../../src/backend/cuda/addon.js';
import { fillRandom, writeJsonAtomic, type BenchRecord } from '../harness.js';
import { targetOf } from '../run.js';
import { repoRoot } from '../peers.js';

// ============================================================================ options

interface Options {
  tiny: boolean;
  json: string | null;
  budget: number;
  only: string[] | null;
  python: string;
  peerCpu: boolean;
  child: string | null;
  out: string | null;
  start: number;
  /** child: when the parent will stop it (ms since the epoch); long loops end before */
  deadline: number;
  summarize: string | null;
}

const SECTIONS = ['env', 'parity', 'memory', 'bench', 'torch'] as const;
const USAGE = `usage: node dist/bench/gpu/check.js [--tiny] [--json FILE] [--budget SECONDS] [--only ${SECTIONS.join(',')}]
       [--python PY] [--peer-cpu]
       node dist/bench/gpu/check.js --summarize DIR --json FILE`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    tiny: false, json: null, budget: 0, only: null, python: process.env.AVGK_TORCH_GPU_PYTHON ?? 'python3', peerCpu: false,
    child: null, out: null, start: 0, deadline: Infinity, summarize: null,
  };
  const need = (i: number): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--tiny': o.tiny = true; break;
      case '--json': o.json = need(i); i++; break;
      case '--budget': o.budget = Number(need(i)); i++; break;
      case '--only': o.only = need(i).split(',').map((s) => s.trim()).filter(Boolean); i++; break;
      case '--python': o.python = need(i); i++; break;
      case '--peer-cpu': o.peerCpu = true; break;
      case '--child': o.child = need(i); i++; break;
      case '--out': o.out = need(i); i++; break;
      case '--start': o.start = Number(need(i)); i++; break;
      case '--deadline': o.deadline = Number(need(i)); i++; break;
      case '--summarize': o.summarize = need(i); i++; break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option "${a}"\n${USAGE}`);
    }
  }
  if (!(o.budget >= 0)) throw new Error('--budget: expected seconds ≥ 0');
  if (o.budget === 0) o.budget = o.tiny ? 1200 : 300;
  for (const s of o.only ?? []) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`--only: unknown section "${s}" (${SECTIONS.join(', ')})`);
  return o;
}

const SELF = fileURLToPath(import.meta.url);
const ROOT = repoRoot(dirname(SELF));

// ============================================================================ sizes

interface Sizes {
  unaryN: number;
  bcast: [number, number, number];
  red: [number, number, number];
  mm: [number, number, number];
  bmm: [number, number, number, number];
  shp: [number, number, number];
  smRows: number;
  smCols: number;
  conv: { x: number[]; w: number[]; stride: number; pad: number; bias: boolean }[];
  pool: number[];
  bn: number[];
  selectN: number;
  pseudo: [number, number];
  calib: [number, number];
  optN: number;
  stepBatch: number;
  memSteps: number;
  memSampleAt: number;
  memMaxSeconds: number;
  gemm: number;
  benchSelect: number;
  ceRows: number;
  ceCols: number;
  bceN: number;
  resnetBatch: number;
  /** image side of the ResNet-18 inputs (32: CIFAR; smaller for --tiny on the emulator) */
  resnetSize: number;
  resnetWarmup: number;
  resnetSteps: number;
}

function sizes(tiny: boolean): Sizes {
  if (tiny) {
    return {
      unaryN: 1000, bcast: [5, 7, 33], red: [3, 40, 5], mm: [33, 17, 29], bmm: [2, 9, 8, 11], shp: [4, 6, 5],
      smRows: 16, smCols: 70,
      conv: [
        { x: [2, 3, 7, 6], w: [4, 3, 3, 3], stride: 1, pad: 1, bias: true },
        { x: [2, 3, 9, 7], w: [5, 3, 3, 3], stride: 2, pad: 1, bias: false },
        { x: [2, 4, 6, 6], w: [6, 4, 1, 1], stride: 2, pad: 0, bias: false },
      ],
      pool: [2, 3, 8, 7], bn: [4, 3, 5, 5], selectN: 3001, pseudo: [16, 10], calib: [40, 10], optN: 1000, stepBatch: 2,
      memSteps: 300, memSampleAt: 100, memMaxSeconds: 300,
      gemm: 64, benchSelect: 100_000, ceRows: 200, ceCols: 50, bceN: 100_000, resnetBatch: 2, resnetSize: 8, resnetWarmup: 0,
      resnetSteps: 1,
    };
  }
  return {
    unaryN: (1 << 20) + 3, bcast: [256, 129, 300], red: [64, 1000, 33], mm: [1000, 700, 900], bmm: [8, 128, 64, 96],
    shp: [64, 128, 33], smRows: 4096, smCols: 1000,
    conv: [
      { x: [32, 64, 32, 32], w: [64, 64, 3, 3], stride: 1, pad: 1, bias: true },
      { x: [16, 32, 33, 31], w: [48, 32, 3, 3], stride: 2, pad: 1, bias: false },
      { x: [16, 64, 16, 16], w: [128, 64, 1, 1], stride: 2, pad: 0, bias: false },
    ],
    pool: [32, 64, 32, 32], bn: [64, 64, 16, 16], selectN: (1 << 22) + 5, pseudo: [256, 100], calib: [4096, 100],
    optN: (1 << 20) + 7, stepBatch: 16,
    memSteps: 20_000, memSampleAt: 100, memMaxSeconds: 90,
    gemm: 4096, benchSelect: 100_000_000, ceRows: 100_000, ceCols: 1000, bceN: 100_000_000, resnetBatch: 256,
    resnetSize: 32, resnetWarmup: 3, resnetSteps: 10,
  };
}

// ============================================================================ helpers

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return `${typeof code === 'string' ? `[${code}] ` : ''}${e.message}`;
  }
  return String(e);
}

/** Uniform values in [lo, hi) from a seeded generator. */
function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new Rng(seed);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r.next();
  return d;
}

function randT(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  return new Tensor(uniform(shape.reduce((a, b) => a * b, 1), seed, lo, hi), shape);
}

/** Special values at fixed positions: NaN, ±Inf, ±0, huge and tiny magnitudes. */
function withSpecials(t: Tensor): Tensor {
  const d = t.dataSync() as Float32Array;
  const sp = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 1e-30, -1e-30, 88.5, -104];
  const step = Math.max(1, Math.floor(d.length / sp.length));
  sp.forEach((v, i) => {
    if (i * step + 1 < d.length) d[i * step + 1] = v;
  });
  return t;
}

interface Check {
  what: string;
  ok: boolean;
  /** max |got − want| / (atol + rtol·|want|) over finite entries (≤ 1 passes) */
  err: number;
  n: number;
  worst?: string;
}

interface Tol {
  rtol: number;
  /** absolute tolerance, multiplied by max(1, max |want|) */
  atol: number;
}

const TIGHT: Tol = { rtol: 2e-5, atol: 1e-6 };
const SUMS: Tol = { rtol: 1e-4, atol: 2e-5 };
const DEEP: Tol = { rtol: 2e-3, atol: 2e-4 };

function compare(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol): Check {
  if (got.length !== want.length) return { what, ok: false, err: Infinity, n: want.length, worst: `length ${got.length} vs ${want.length}` };
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    const w = Math.abs(want[i]!);
    if (Number.isFinite(w) && w > scale) scale = w;
  }
  const atol = tol.atol * scale;
  let err = 0;
  let worst = '';
  let bad = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    let e: number;
    if (Number.isNaN(w)) e = Number.isNaN(g) ? 0 : Infinity;
    else if (!Number.isFinite(w)) e = g === w ? 0 : Infinity;
    else if (!Number.isFinite(g)) e = Infinity;
    else e = Math.abs(g - w) / (atol + tol.rtol * Math.abs(w));
    if (e > 1) bad++;
    if (e > err || (e === Infinity && err === Infinity && !worst)) {
      err = e;
      worst = `[${i}] got ${g}, want ${w}`;
    }
  }
  return { what, ok: bad === 0, err, n: want.length, worst: bad > 0 ? `${bad} bad, worst ${worst}` : undefined };
}

function exact(what: string, got: ArrayLike<number>, want: ArrayLike<number>): Check {
  const n = Math.max(got.length, want.length);
  let bad = 0;
  let first = '';
  for (let i = 0; i < n; i++) {
    const g = got[i];
    const w = want[i];
    if (!(g === w || (Number.isNaN(g) && Number.isNaN(w)))) {
      if (!bad) first = `[${i}] got ${g}, want ${w}`;
      bad++;
    }
  }
  return { what, ok: bad === 0 && got.length === want.length, err: bad ? Infinity : 0, n, worst: bad ? `${bad} differ, first ${first}` : undefined };
}

/**
 * f on CPU leaves and on their CUDA copies, with the same random upstream gradient: the output,
 * its device and every input gradient must agree.
 */
function parity(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol: Tol, backward = true): Check[] {
  const cpu = inputs.map((t) => new Tensor(Float32Array.from(t.dataSync() as Float32Array), [...t.shape]).setRequiresGrad(backward));
  const gpu = inputs.map((t) => t.to('cuda').detach().setRequiresGrad(backward));
  const yc = f(...cpu);
  const yg = f(...gpu);
  const out: Check[] = [];
  if (yg.device !== 'cuda') out.push({ what: `${name}: output device`, ok: false, err: Infinity, n: 1, worst: `on ${yg.device}` });
  out.push(compare(`${name} forward`, yg.dataSync(), yc.dataSync(), tol));
  if (!backward) return out;
  const up = randT([...yc.shape], 99);
  yc.backward(up);
  yg.backward(up.to('cuda'));
  cpu.forEach((c, i) => {
    const gg = gpu[i]!.grad;
    if (!c.grad || !gg) {
      if (c.grad || gg) out.push({ what: `${name} grad ${i}`, ok: false, err: Infinity, n: 0, worst: `gradient on one device only` });
      return;
    }
    out.push(compare(`${name} grad ${i}`, gg.dataSync(), c.grad.dataSync(), tol));
  });
  return out;
}

/** Whether both calls throw, or both return equal values. */
function sameOutcome(what: string, fc: () => number, fg: () => number): Check {
  let c: number | Error;
  let g: number | Error;
  try {
    c = fc();
  } catch (e) {
    c = e as Error;
  }
  try {
    g = fg();
  } catch (e) {
    g = e as Error;
  }
  if (c instanceof Error || g instanceof Error) {
    const ok = c instanceof Error && g instanceof Error;
    const show = (v: number | Error) => (v instanceof Error ? `throws "${v.message.slice(0, 80)}"` : String(v));
    return { what, ok, err: ok ? 0 : Infinity, n: 1, worst: ok ? undefined : `cuda ${show(g)}, cpu ${show(c)}` };
  }
  return exact(what, [g], [c]);
}

// ============================================================================ parity cases

interface CaseResult {
  name: string;
  ok: boolean | null;
  /** wall time of the whole case (setup and checks included) */
  caseSeconds: number;
  error?: string;
  [k: string]: unknown;
}

interface Case {
  name: string;
  run: () => Record<string, unknown> & { ok?: boolean | null };
}

function parityCase(name: string, body: () => Check[]): Case {
  return {
    name,
    run: () => {
      const checks = tidy(body);
      const failed = checks.filter((c) => !c.ok);
      const maxErr = checks.reduce((m, c) => (Number.isFinite(c.err) ? Math.max(m, c.err) : m), 0);
      return {
        ok: failed.length === 0,
        checks: checks.length,
        failed: failed.length,
        maxScaledErr: Number(maxErr.toPrecision(3)),
        failures: failed.slice(0, 8).map((c) => `${c.what}: ${c.worst ?? 'mismatch'}`),
      };
    },
  };
}

function parityCases(z: Sizes): Case[] {
  const cases: Case[] = [];
  const unaryOps: [string, (a: Tensor) => Tensor][] = [
    ['exp', E.exp], ['log', E.log], ['sqrt', E.sqrt], ['sigmoid', E.sigmoid], ['tanh', E.tanh], ['relu', E.relu],
    ['abs', E.abs], ['neg', E.neg], ['pow 3', (a) => E.pow(a, 3)], ['pow 0.5', (a) => E.pow(a, 0.5)],
    ['clamp', (a) => E.clamp(a, -0.5, 0.25)], ['affine', (a) => E.affine(a, 2, 1)],
  ];
  cases.push(parityCase(`unary ops n=${z.unaryN}`, () =>
    unaryOps.flatMap(([n, f]) => parity(n, f, [randT([z.unaryN], 1, -3, 3)], TIGHT))));
  cases.push(parityCase(`unary ops with NaN/±Inf/±0 n=${z.unaryN}`, () =>
    unaryOps.flatMap(([n, f]) => parity(`${n} specials`, f, [withSpecials(randT([z.unaryN], 2, -3, 3))], TIGHT))));

  const [b0, b1, b2] = z.bcast;
  const binOps: [string, (a: Tensor, b: Tensor) => Tensor][] = [
    ['add', E.add], ['sub', E.sub], ['mul', E.mul], ['div', E.div], ['maximum', E.maximum], ['minimum', E.minimum],
  ];
  cases.push(parityCase(`broadcast binary [${b0},1,${b2}]∘[1,${b1},${b2}]`, () =>
    binOps.flatMap(([n, f]) => parity(n, f, [randT([b0, 1, b2], 3), randT([1, b1, b2], 4, 0.5, 2)], TIGHT))));
  cases.push(parityCase('broadcast binary with NaN/±Inf', () =>
    binOps.flatMap(([n, f]) => parity(`${n} specials`, f, [withSpecials(randT([b0, 1, b2], 5)), withSpecials(randT([1, b1, b2], 6))], TIGHT))));

  const red = z.red;
  cases.push(parityCase(`reductions [${red.join(',')}]`, () => [
    ...parity('sum all', (a) => R.sum(a), [randT(red, 7)], SUMS),
    ...parity('sum axis 0', (a) => R.sum(a, 0), [randT(red, 8)], SUMS),
    ...parity('sum axis 1 keepdim', (a) => R.sum(a, 1, true), [randT(red, 9)], SUMS),
    ...parity('sum axis 2', (a) => R.sum(a, 2), [randT(red, 10)], SUMS),
    ...parity('mean axes 0,2', (a) => R.mean(a, [0, 2]), [randT(red, 11)], SUMS),
    ...parity('max axis 1', (a) => R.max(a, 1), [randT(red, 12)], TIGHT),
    ...parity('max axis 2 keepdim', (a) => R.max(a, 2, true), [randT(red, 13)], TIGHT),
    ...parity('max with NaN/Inf', (a) => R.max(a, 1), [withSpecials(randT(red, 14))], TIGHT),
    ...parity('sum with NaN/Inf', (a) => R.sum(a, 1), [withSpecials(randT(red, 15))], SUMS),
    (() => {
      const x = randT(red, 16);
      return exact('argmax axis 1', R.argmax(x.cuda(), 1).dataSync(), R.argmax(x, 1).dataSync());
    })(),
  ]));

  const [m, k, n] = z.mm;
  // TF32 stays off for the parity cases (the default; set here so that no earlier case leaks it)
  cases.push(parityCase(`matmul ${m}×${k}×${n}`, () => (setTf32(false), parity('matmul', matmul, [randT([m, k], 17), randT([k, n], 18)], SUMS))));
  const [bb, bm, bk, bn] = z.bmm;
  cases.push(parityCase(`matmul batched/transposed [${bb},${bm},${bk}]`, () => [
    ...parity('batched', matmul, [randT([bb, bm, bk], 19), randT([bb, bk, bn], 20)], SUMS),
    ...parity('transposed operands', (a, b) => matmul(S.transpose(a, 1, 2), S.transpose(b, 1, 2)), [randT([bb, bk, bm], 21), randT([bb, bn, bk], 22)], SUMS),
    ...parity('broadcast batch', (a, b) => matmul(a, b), [randT([bb, bm, bk], 23), randT([bk, bn], 24)], SUMS),
    ...parity('NaN/Inf operand', matmul, [withSpecials(randT([bm, bk], 25)), randT([bk, bn], 26)], SUMS, false),
  ]));

  const sh = z.shp;
  cases.push(parityCase(`shaping [${sh.join(',')}]`, () => {
    const idx = new Tensor(Int32Array.from({ length: sh[0] * 2 }, (_, i) => (i * 7) % sh[1]), [sh[0], 2]);
    const sel = Int32Array.from({ length: 9 }, (_, i) => (i * 5) % sh[0]);
    return [
      ...parity('permute+contiguous', (a) => S.contiguous(S.permute(a, [2, 0, 1])), [randT(sh, 27)], TIGHT),
      ...parity('transpose+reshape', (a) => S.reshape(S.transpose(a, 0, 2), [sh[2], -1]), [randT(sh, 28)], TIGHT),
      ...parity('slice', (a) => S.contiguous(S.slice(S.slice(a, 1, 3, sh[1] - 2), 2, 1)), [randT(sh, 29)], TIGHT),
      ...parity('expand', (a) => S.contiguous(S.expand(a, [3, sh[1], sh[2]])), [randT([1, sh[1], sh[2]], 30)], SUMS),
      ...parity('concat+stack', (a, b) => S.stack([S.concat([a, b], 1), S.concat([b, a], 1)], 0), [randT(sh, 31), randT(sh, 32)], TIGHT),
      ...parity('squeeze/unsqueeze', (a) => S.squeeze(S.unsqueeze(a, 1), 1), [randT(sh, 33)], TIGHT),
      ...parity('gather', (a) => S.gather(S.reshape(a, [sh[0], -1]), 1, idx), [randT(sh, 34)], SUMS),
      ...parity('gather (cuda index)', (a) => S.gather(S.reshape(a, [sh[0], -1]), 1, a.device === 'cuda' ? idx.cuda() : idx), [randT(sh, 35)], SUMS),
      ...parity('indexSelect', (a) => S.indexSelect(a, 0, sel), [randT(sh, 36)], SUMS),
    ];
  }));

  const rows = z.smRows;
  const cols = z.smCols;
  cases.push(parityCase(`softmax/logSoftmax [${rows},${cols}]`, () => {
    const masked = () => {
      const t = randT([rows, cols], 38, -8, 8);
      const d = t.dataSync() as Float32Array;
      for (let j = 1; j < cols; j++) d[j] = -Infinity; // row 0: one finite entry
      d[cols + 3] = NaN; // row 1: a NaN
      d[2 * cols + 1] = Infinity; // row 2: +Inf
      return t;
    };
    return [
      ...parity('softmax', (a) => softmax(a, 1), [randT([rows, cols], 37, -8, 8)], TIGHT),
      ...parity('logSoftmax', (a) => logSoftmax(a, 1), [randT([rows, cols], 39, -8, 8)], TIGHT),
      ...parity('softmax axis 0', (a) => softmax(a, 0), [randT([rows, cols], 40, -8, 8)], TIGHT),
      ...parity('softmax -Inf/NaN/Inf rows', (a) => softmax(a, 1), [masked()], TIGHT, false),
      ...parity('logSoftmax -Inf/NaN/Inf rows', (a) => logSoftmax(a, 1), [masked()], TIGHT, false),
    ];
  }));

  cases.push(parityCase(`losses [${rows},${cols}]`, () => {
    const labels = Int32Array.from({ length: rows }, (_, i) => (i * 7919) % cols);
    const targets = new Float32Array(rows * cols);
    for (let i = 0; i < targets.length; i += 7) targets[i] = 1;
    const weights = uniform(rows * cols, 41, 0.2, 2);
    const specials = withSpecials(randT([rows, cols], 42, -8, 8));
    return [
      ...parity('softmaxCrossEntropy', (a) => softmaxCrossEntropy(a, labels), [randT([rows, cols], 43, -8, 8)], SUMS),
      ...parity('softmaxCrossEntropy smoothing 0.1', (a) => softmaxCrossEntropy(a, labels, { smoothing: 0.1 }), [randT([rows, cols], 44, -8, 8)], SUMS),
      ...parity('softmaxCrossEntropy large logits', (a) => softmaxCrossEntropy(a, labels), [randT([rows, cols], 45, -80, 80)], SUMS),
      ...parity('sigmoidBce mean', (a) => sigmoidBce(a, targets), [randT([rows, cols], 46, -10, 10)], SUMS),
      ...parity('sigmoidBce weighted batchmean', (a) => sigmoidBce(a, targets, { weights, reduction: 'batchmean' }), [randT([rows, cols], 47, -10, 10)], SUMS),
      ...parity('softmaxCrossEntropy NaN/Inf logits', (a) => softmaxCrossEntropy(a, labels), [specials], SUMS, false),
      ...parity('sigmoidBce NaN/Inf logits', (a) => sigmoidBce(a, targets), [specials], SUMS, false),
    ];
  }));

  z.conv.forEach((c, i) => {
    cases.push(parityCase(`conv2d x[${c.x.join(',')}] w[${c.w.join(',')}] s${c.stride} p${c.pad}${c.bias ? ' +bias' : ''}`, () => {
      const ins = [randT(c.x, 50 + i), randT(c.w, 60 + i, -0.3, 0.3)];
      if (c.bias) ins.push(randT([c.w[0]!], 70 + i));
      return parity('conv2d', (x, w, b) => conv2d(x, w, b ?? null, { stride: c.stride, padding: c.pad }), ins, SUMS);
    }));
  });

  cases.push(parityCase(`pooling [${z.pool.join(',')}]`, () => [
    ...parity('maxPool2d 3/2/1', (x) => maxPool2d(x, 3, 2, 1), [randT(z.pool, 80)], TIGHT),
    ...parity('maxPool2d 2', (x) => maxPool2d(x, 2), [randT(z.pool, 81)], TIGHT),
    ...parity('avgPool2d 2', (x) => avgPool2d(x, 2), [randT(z.pool, 82)], TIGHT),
    ...parity('avgPool2d 3/2/1', (x) => avgPool2d(x, 3, 2, 1), [randT(z.pool, 83)], TIGHT),
    ...parity('globalAvgPool2d', (x) => globalAvgPool2d(x), [randT(z.pool, 84)], SUMS),
    ...parity('maxPool2d NaN/Inf', (x) => maxPool2d(x, 3, 2, 1), [withSpecials(randT(z.pool, 85))], TIGHT, false),
  ]));

  cases.push(parityCase(`batchNorm [${z.bn.join(',')}]`, () => {
    const c = z.bn[1]!;
    const out: Check[] = [];
    for (const relu of [false, true]) {
      const rmC = new Float32Array(c);
      const rvC = new Float32Array(c).fill(1);
      const rmG = new Tensor(new Float32Array(c), [c]).cuda();
      const rvG = new Tensor(new Float32Array(c).fill(1), [c]).cuda();
      let calls = 0;
      out.push(...parity(`batchNorm train relu=${relu}`, (x, g, b) => {
        const st = calls++ === 0 ? { runningMean: rmC, runningVar: rvC } : { runningMean: rmG, runningVar: rvG };
        return batchNorm(x, g, b, st, { training: true, relu });
      }, [randT(z.bn, 90, -2, 3), randT([c], 91, 0.5, 1.5), randT([c], 92)], SUMS));
      out.push(compare(`running mean relu=${relu}`, rmG.dataSync(), rmC, SUMS));
      out.push(compare(`running var relu=${relu}`, rvG.dataSync(), rvC, SUMS));
    }
    const mean = uniform(c, 93);
    const vr = uniform(c, 94, 0.5, 2);
    let calls = 0;
    out.push(...parity('batchNorm eval', (x, g, b) => {
      const st = calls++ === 0 ? { runningMean: mean, runningVar: vr } : { runningMean: new Tensor(mean, [c]).cuda(), runningVar: new Tensor(vr, [c]).cuda() };
      return batchNorm(x, g, b, st, { training: false });
    }, [randT(z.bn, 95), randT([c], 96), randT([c], 97)], SUMS));
    return out;
  }));

  cases.push(parityCase(`dropout n=${z.unaryN}`, () => {
    const x = randT([z.unaryN], 100);
    return [exact('dropout p=0.3', dropout(x.cuda(), 0.3, true, new Rng(3)).dataSync(), dropout(x, 0.3, true, new Rng(3)).dataSync())];
  }));

  cases.push(parityCase(`kthLargest n=${z.selectN}`, () => {
    const n = z.selectN;
    const x = randT([n], 101);
    const xg = x.cuda();
    const ties = new Tensor(uniform(n, 102).map((v) => Math.round(v * 8) / 8), [n]);
    const tg = ties.cuda();
    const mask = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const sel = mask.reduce((a, b) => a + b, 0);
    const nan = randT([n], 103);
    (nan.dataSync() as Float32Array)[n >> 1] = NaN;
    const out: Check[] = [];
    for (const mm of [1, 2, Math.floor(n / 50), Math.floor(n / 2), n - 1, n]) {
      out.push(sameOutcome(`m=${mm}`, () => kthLargest(x, mm), () => kthLargest(xg, mm)));
      out.push(sameOutcome(`ties m=${mm}`, () => kthLargest(ties, mm), () => kthLargest(tg, mm)));
    }
    for (const mm of [1, Math.floor(sel / 3), sel]) out.push(sameOutcome(`mask m=${mm}`, () => kthLargest(x, mm, mask), () => kthLargest(xg, mm, mask)));
    out.push(sameOutcome('with NaN', () => kthLargest(nan, 5), () => kthLargest(nan.cuda(), 5)));
    return out;
  }));

  cases.push(parityCase(`pseudo-labels and calibration`, () => {
    const [pr, pc] = z.pseudo;
    const probs = noGrad(() => softmax(randT([pr, pc], 110, -3, 3), 1));
    const pd = probs.dataSync() as Float32Array;
    pd.fill(1 / pc, 0, pc); // a row of ties
    const labels = Int32Array.from({ length: pr }, (_, i) => (i * 31) % pc);
    const out: Check[] = [];
    for (const variant of ['true-plus-topk', 'batch-topk'] as const) {
      for (const kk of [1.5, 2, 3.25]) {
        const cpu = pseudoLabelTargets(new Tensor(pd, [pr, pc]), labels, kk, variant);
        const gpu = pseudoLabelTargets(new Tensor(pd, [pr, pc]).cuda(), labels, kk, variant);
        out.push(exact(`pseudo-labels ${variant} K=${kk}`, gpu.dataSync(), cpu.dataSync()));
      }
    }
    const [cr, cc] = z.calib;
    const scores = randT([cr, cc], 111);
    for (const kk of [1, 2.5]) {
      const want = calibrateThreshold(scores.dataSync() as Float32Array, cr, cc, kk, { seed: 4 });
      const got = calibrateThreshold(scores.cuda(), cr, cc, kk, { seed: 4 });
      out.push(exact(`calibrateThreshold K=${kk}`, Object.values(got).filter((v) => typeof v === 'number') as number[],
        Object.values(want).filter((v) => typeof v === 'number') as number[]));
    }
    return out;
  }));

  cases.push(parityCase(`optimisers n=${z.optN}`, () => {
    const n = z.optN;
    const run = (device: 'cpu' | 'cuda', make: (p: Tensor[]) => SGD | Adam): Float32Array => {
      const p = new Tensor(uniform(n, 120), [n]).to(device).detach().setRequiresGrad(true);
      const opt = make([p]);
      for (let s = 0; s < 3; s++) {
        p.grad = new Tensor(uniform(n, 121 + s), [n]).to(device);
        opt.step();
      }
      return Float32Array.from(p.dataSync());
    };
    const makers: [string, (p: Tensor[]) => SGD | Adam][] = [
      ['SGD nesterov wd', (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
      ['SGD plain', (p) => new SGD(p, { lr: 0.1 })],
      ['Adam wd', (p) => new Adam(p, { lr: 1e-3, weightDecay: 1e-2 })],
      ['AdamW', (p) => new Adam(p, { lr: 1e-3, weightDecay: 1e-2, decoupled: true })],
    ];
    return makers.map(([name, mk]) => compare(name, run('cuda', mk), run('cpu', mk), TIGHT));
  }));

  cases.push(parityCase(`two-head training step (cnn, batch ${z.stepBatch})`, () => {
    const b = z.stepBatch;
    const x = randT([b, 3, 32, 32], 130);
    const labels = Int32Array.from({ length: b }, (_, i) => (i * 3) % 10);
    const grads = (device: 'cpu' | 'cuda') => {
      const model = buildModel({ name: 'cnn' }, [3, 32, 32], 10, { rng: new Rng(7) }).to(device);
      model.train();
      const method = createMethod('two-head', { k: 2, numClasses: 10 });
      const loss = method.loss(model.forward(x.to(device)), { labels, indices: new Int32Array(b) });
      loss.backward();
      return { loss: loss.item(), grads: model.namedParameters().map(([name, p]) => [name, p.grad ? p.grad.dataSync() : new Float32Array(0)] as const) };
    };
    const c = grads('cpu');
    const g = grads('cuda');
    return [compare('loss', [g.loss], [c.loss], DEEP), ...c.grads.map(([name, gc], i) => compare(`grad ${name}`, g.grads[i]![1], gc, DEEP))];
  }));
  return cases;
}

// ============================================================================ memory flatness

function memoryCase(z: Sizes, deadline: number): Case {
  return {
    name: `memory: ${z.memSteps} training steps`,
    run: () => {
      const rng = new Rng(1);
      const model = buildModel({ name: 'mlp', hidden: [64, 64] }, [32], 10, { rng }).to('cuda');
      const method = createMethod('two-head', { k: 2, numClasses: 10 });
      const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
      const x = randT([64, 32], 140).cuda();
      const labels = Int32Array.from({ length: 64 }, (_, i) => i % 10);
      const indices = Int32Array.from({ length: 64 }, (_, i) => i);
      const step = () => tidy(() => {
        const loss = method.loss(model.forward(x), { labels, indices });
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item();
      });
      const snap = () => {
        const s = cudaMemStats();
        const p = process.memoryUsage();
        return { live: s.live, reserved: s.reserved, allocations: s.allocations, rssMB: +(p.rss / 2 ** 20).toFixed(1), heapMB: +(p.heapUsed / 2 ** 20).toFixed(1) };
      };
      const t0 = performance.now();
      // stop in time to report: at memMaxSeconds, or 15 s before the parent's deadline
      const stopAt = Math.min(t0 + z.memMaxSeconds * 1000, t0 + (deadline - Date.now()) - 15_000);
      let at: ReturnType<typeof snap> | null = null;
      let steps = 0;
      let loss = NaN;
      let stoppedEarly = false;
      for (let i = 1; i <= z.memSteps; i++) {
        loss = step();
        steps = i;
        if (i === z.memSampleAt) at = snap();
        if (i > z.memSampleAt && i % 10 === 0 && performance.now() > stopAt) {
          stoppedEarly = true;
          break;
        }
      }
      const end = snap();
      const flat = at !== null && end.live === at.live && end.reserved <= at.reserved;
      return {
        ok: flat && !stoppedEarly,
        flat,
        steps,
        sampleAt: z.memSampleAt,
        stoppedEarly,
        atSample: at,
        atEnd: end,
        msPerStep: +((performance.now() - t0) / steps).toFixed(3),
        lastLoss: loss,
      };
    },
  };
}

// ============================================================================ benchmarks

/**
 * Median seconds of one call: the device is synchronised, a batch of calls runs (each in a memory
 * scope), the device is synchronised again; batches last about 20 ms. The PyTorch peer times the
 * same way.
 */
function timeDevice(fn: () => void, warmup = 2, samples = 5, maxReps = 200): { seconds: number; reps: number } {
  const call = () => tidy(() => {
    fn();
  });
  for (let i = 0; i < warmup; i++) call();
  cudaSynchronize();
  let t0 = performance.now();
  call();
  cudaSynchronize();
  const one = Math.max(performance.now() - t0, 1e-3);
  const reps = Math.max(1, Math.min(maxReps, Math.floor(20 / one)));
  const per: number[] = [];
  for (let s = 0; s < samples; s++) {
    cudaSynchronize();
    t0 = performance.now();
    for (let r = 0; r < reps; r++) call();
    cudaSynchronize();
    per.push((performance.now() - t0) / 1000 / reps);
  }
  return { seconds: median(per), reps };
}

function deviceRandom(n: number, seed: number, scale = 1): CudaStorage {
  const h = fillRandom(new Float32Array(n), seed);
  if (scale !== 1) for (let i = 0; i < n; i++) h[i] *= scale;
  return cudaFromHost(h);
}

function benchCases(z: Sizes): Case[] {
  const be = () => cudaBackend();
  const gemm = (tf32: boolean): Case => ({
    name: `sgemm ${z.gemm}³ ${tf32 ? 'tf32' : 'fp32'}`,
    run: () => {
      const n = z.gemm;
      const ha = fillRandom(new Float32Array(n * n), 1);
      const hb = fillRandom(new Float32Array(n * n), 2);
      const a = cudaFromHost(ha);
      const b = cudaFromHost(hb);
      const c = cudaAlloc(n * n);
      setTf32(tf32);
      try {
        const run = () => be().gemm(1, n, n, n, 1, a, 0, n, 1, 0, b, 0, n, 1, 0, 0, c, 0, n, 0);
        const t = timeDevice(run, 3);
        // spot check of 16 entries against double-precision dot products
        const hc = new Float32Array(n * n);
        cudaSynchronize();
        hc.set(new Tensor(c, [n * n]).dataSync() as Float32Array);
        let worst = 0;
        const r = new Rng(5);
        for (let s = 0; s < 16; s++) {
          const i = r.int(n);
          const j = r.int(n);
          let want = 0;
          let mag = 0;
          for (let p = 0; p < n; p++) {
            want += ha[i * n + p]! * hb[p * n + j]!;
            mag += Math.abs(ha[i * n + p]! * hb[p * n + j]!);
          }
          worst = Math.max(worst, Math.abs(hc[i * n + j]! - want) / mag);
        }
        const tol = tf32 ? 5e-3 : 1e-5;
        return {
          ok: worst <= tol, seconds: t.seconds, tflops: (2 * n ** 3) / t.seconds / 1e12, reps: t.reps, tf32: getTf32(),
          spotCheckRelErr: Number(worst.toPrecision(3)), spotCheckTol: tol,
        };
      } finally {
        setTf32(false);
      }
    },
  });

  const ceBytes = 4 * z.ceRows * z.ceCols * 2 + 4 * z.ceRows;
  const copyFloats: Record<string, number> = { select: z.benchSelect, ce: Math.floor(ceBytes / 8), bce: Math.floor((12 * z.bceN) / 8) };
  return [
    gemm(false),
    gemm(true),
    {
      name: 'copy (device to device)',
      run: () => {
        const out: Record<string, unknown> = {};
        for (const [what, floats] of Object.entries(copyFloats)) {
          const src = deviceRandom(floats, 7);
          const dst = cudaAlloc(floats);
          const t = timeDevice(() => be().copy(src, 0, [1], dst, 0, [1], [floats]));
          out[what] = { floats, seconds: t.seconds, gbps: (8 * floats) / t.seconds / 1e9, reps: t.reps };
          src.block.dispose();
          dst.block.dispose();
        }
        return { ok: true, via: 'backend.copy (strided copy kernel, contiguous)', ...out };
      },
    },
    {
      name: `selectKth n=${z.benchSelect}`,
      run: () => {
        const n = z.benchSelect;
        const h = fillRandom(new Float32Array(n), 10);
        const x = cudaFromHost(h);
        const out: Record<string, unknown> = {};
        let ok = true;
        for (const [label, m] of [['median', Math.floor(n / 2)], ['top2%', Math.floor(n / 50)]] as const) {
          const t = timeDevice(() => void be().selectKth(x, m, null), 2, 5, 50);
          const got = new Tensor(be().selectKth(x, m, null), []).item();
          const want = backend().selectKth(h, m, null) as number;
          ok &&= got === want;
          out[label] = { m, seconds: t.seconds, reps: t.reps, got, want };
        }
        return { ok, n, ...out };
      },
    },
    {
      name: `softmaxCrossEntropy [${z.ceRows},${z.ceCols}] +grad`,
      run: () => {
        const logits = deviceRandom(z.ceRows * z.ceCols, 8, 4);
        const labels = cudaFromHost(Int32Array.from({ length: z.ceRows }, (_, i) => (i * 7919) % z.ceCols));
        const grad = cudaAlloc(z.ceRows * z.ceCols);
        const t = timeDevice(() => void be().softmaxCrossEntropy(logits, labels, z.ceRows, z.ceCols, 0, grad));
        return { ok: true, rows: z.ceRows, cols: z.ceCols, bytes: ceBytes, seconds: t.seconds, gbps: ceBytes / t.seconds / 1e9, reps: t.reps };
      },
    },
    {
      name: `sigmoidBce n=${z.bceN} +grad`,
      run: () => {
        const logits = deviceRandom(z.bceN, 9, 6);
        const ht = new Float32Array(z.bceN);
        for (let i = 0; i < ht.length; i += 7) ht[i] = 1;
        const targets = cudaFromHost(ht);
        const grad = cudaAlloc(z.bceN);
        const t = timeDevice(() => void be().sigmoidBce(logits, targets, null, grad));
        const bytes = 12 * z.bceN;
        return { ok: true, n: z.bceN, bytes, seconds: t.seconds, gbps: bytes / t.seconds / 1e9, reps: t.reps };
      },
    },
    {
      name: `resnet18 two-head step batch ${z.resnetBatch}`,
      run: () => {
        setTf32(false);
        const rng = new Rng(0);
        const b = z.resnetBatch;
        const hw = z.resnetSize;
        const model = buildModel({ name: 'resnet18' }, [3, hw, hw], 100, { rng }).to('cuda');
        model.train();
        const method = createMethod('two-head', { k: 2, numClasses: 100 });
        const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
        const x = randT([b, 3, hw, hw], 150).cuda();
        const labels = Int32Array.from({ length: b }, () => rng.int(100));
        const indices = Int32Array.from({ length: b }, (_, i) => i);
        const step = () => tidy(() => {
          opt.zeroGrad();
          const loss = method.loss(model.forward(x), { labels, indices });
          loss.backward();
          opt.step();
        });
        for (let i = 0; i < z.resnetWarmup; i++) step();
        cudaSynchronize();
        const per: number[] = [];
        for (let i = 0; i < z.resnetSteps; i++) {
          const t0 = performance.now();
          step();
          cudaSynchronize();
          per.push((performance.now() - t0) / 1000);
        }
        const s = median(per);
        return { ok: true, batch: b, input: [3, hw, hw], classes: 100, seconds: s, imagesPerS: b / s, steps: z.resnetSteps, warmup: z.resnetWarmup, peakMB: +(cudaMemStats().peak / 2 ** 20).toFixed(1) };
      },
    },
  ];
}

// ============================================================================ children

interface ChildFile {
  section: string;
  start: number;
  total: number;
  done: CaseResult[];
  current: { index: number; name: string } | null;
  finished: boolean;
  restart?: boolean;
  info?: Record<string, unknown>;
}

function envInfo(): Record<string, unknown> {
  const avail = cudaAvailable();
  const base: Record<string, unknown> = { addon: cudaAddonPath(), cpuBackend: backendName(), node: process.version, cpus: cpus().length };
  if (!avail.available) return { ...base, available: false, error: avail.error };
  return { ...base, available: true, device: cudaDeviceInfo(), memStats: cudaMemStats() };
}

function runChild(o: Options): number {
  const out = o.out!;
  const z = sizes(o.tiny);
  const file: ChildFile = { section: o.child!, start: o.start, total: 0, done: [], current: null, finished: false };
  const save = () => writeJsonAtomic(out, file);
  if (o.child === 'env') {
    file.info = envInfo();
    file.finished = true;
    save();
    return 0;
  }
  const start = cudaAvailable();
  if (!start.available) {
    file.info = { available: false, error: start.error };
    save();
    return 2;
  }
  const cases = o.child === 'parity' ? parityCases(z) : o.child === 'memory' ? [memoryCase(z, o.deadline)] : benchCases(z);
  file.total = cases.length;
  save();
  for (let i = o.start; i < cases.length; i++) {
    const c = cases[i]!;
    file.current = { index: i, name: c.name };
    save();
    process.stdout.write(`  ${o.child} ${i + 1}/${cases.length}: ${c.name} ... `);
    const t0 = performance.now();
    let r: CaseResult;
    let threw = false;
    try {
      // the case's device buffers are freed when it ends, not when the collector finds them
      const v = tidy(() => c.run());
      r = { ...v, name: c.name, ok: v.ok ?? null, caseSeconds: +((performance.now() - t0) / 1000).toFixed(3) };
    } catch (e) {
      threw = true;
      r = { name: c.name, ok: false, caseSeconds: +((performance.now() - t0) / 1000).toFixed(3), error: errorText(e) };
    }
    process.stdout.write(`${r.error ? `ERROR ${r.error}` : r.ok === false ? 'FAILED' : 'ok'} (${r.caseSeconds} s)\n`);
    file.done.push(r);
    file.current = null;
    // an exception may leave the CUDA context unusable (sticky errors): continue in a fresh process
    if (threw && i + 1 < cases.length) {
      file.restart = true;
      save();
      return 3;
    }
    save();
  }
  file.finished = true;
  save();
  return 0;
}

interface SectionResult {
  section: string;
  seconds: number;
  cases: CaseResult[];
  /** cases that killed their process, and sections cut short */
  problems: string[];
  info?: Record<string, unknown>;
  skipped?: string;
}

/** Runs a section in child processes until every case ran or its time is up. */
function runSection(o: Options, section: string, timeoutS: number): SectionResult {
  const t0 = performance.now();
  const res: SectionResult = { section, seconds: 0, cases: [], problems: [] };
  const dir = mkdtempSync(join(tmpdir(), 'avgk-gpu-check-'));
  let start = 0;
  try {
    for (let attempt = 0; attempt < 40; attempt++) {
      const left = timeoutS - (performance.now() - t0) / 1000;
      if (left < 5) {
        res.problems.push(`out of time (${timeoutS} s) before case ${start + 1}`);
        break;
      }
      const out = join(dir, `${section}-${attempt}.json`);
      const args = [SELF, '--child', section, '--out', out, '--start', String(start), '--deadline', String(Math.round(Date.now() + left * 1000)), ...(o.tiny ? ['--tiny'] : [])];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: Math.round(left * 1000), killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
      if (r.stdout) process.stdout.write(r.stdout);
      const tail = `${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ');
      if (r.stderr) process.stdout.write(r.stderr.split('\n').map((l) => (l ? `  [stderr] ${l}` : l)).join('\n'));
      let f: ChildFile | null = null;
      try {
        f = JSON.parse(readFileSync(out, 'utf8')) as ChildFile;
      } catch {
        f = null;
      }
      const how = r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out` : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
      if (!f) {
        res.problems.push(`the ${section} process ended (${how}) before it started: ${tail || r.error?.message || ''}`);
        break;
      }
      if (f.info) res.info = f.info;
      res.cases.push(...f.done);
      if (f.finished) break;
      if (f.info && f.info.available === false) break;
      if (how === 'timed out') {
        res.problems.push(`timed out after ${timeoutS} s${f.current ? ` in case "${f.current.name}"` : ''}`);
        if (f.current) res.cases.push({ name: f.current.name, ok: false, caseSeconds: NaN, error: 'timed out' });
        break;
      }
      if (f.current) {
        const why = `the process died (${how}) in this case${tail ? `: ${tail}` : ''}`;
        res.cases.push({ name: f.current.name, ok: false, caseSeconds: NaN, error: why });
        res.problems.push(`case "${f.current.name}": ${why}`);
        start = f.current.index + 1;
      } else if (f.restart) {
        start = f.start + f.done.length;
      } else {
        res.problems.push(`the ${section} process ended (${how}) between cases${tail ? `: ${tail}` : ''}`);
        start = f.start + f.done.length;
      }
      if (start >= f.total) break;
      process.stdout.write(`  (restarting the ${section} process at case ${start + 1}/${f.total})\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  res.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  return res;
}

// ============================================================================ the PyTorch peer

interface PeerResult {
  ran: boolean;
  skipped?: string;
  seconds: number;
  records: Record<string, unknown>[];
  errors: string[];
}

function runTorchPeer(o: Options, timeoutS: number): PeerResult {
  const t0 = performance.now();
  const script = join(ROOT, 'bench', 'peers', 'torch_gpu.py');
  const args = [script, ...(o.tiny ? ['--tiny'] : []), ...(o.peerCpu ? ['--allow-cpu'] : [])];
  const r = spawnSync(o.python, args, { encoding: 'utf8', timeout: timeoutS * 1000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const seconds = +((performance.now() - t0) / 1000).toFixed(1);
  const records: Record<string, unknown>[] = [];
  for (const line of (r.stdout ?? '').split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      records.push(JSON.parse(t) as Record<string, unknown>);
    } catch {
      // not a JSON line
    }
  }
  const errTail = (r.stderr ?? '').trim().split('\n').slice(-2).join(' | ');
  if (r.error) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `timed out after ${timeoutS} s` : `${o.python} cannot be run (${r.error.message})`;
    return { ran: records.length > 0, skipped: records.length ? undefined : why, seconds, records, errors: [why] };
  }
  const unavailable = records.find((x) => typeof x.unavailable === 'string');
  if (unavailable) return { ran: false, skipped: String(unavailable.unavailable), seconds, records, errors: [] };
  if (records.length === 0) return { ran: false, skipped: `${o.python} ${script} exited ${r.status}: ${errTail}`, seconds, records, errors: [] };
  const errors = records.filter((x) => typeof x.error === 'string').map((x) => `${String(x.workload)}: ${String(x.error)}`);
  if (r.status !== 0 && errors.length === 0) errors.push(`exited ${r.status}: ${errTail}`);
  return { ran: true, seconds, records, errors };
}

// ============================================================================ targets

export interface TargetRow {
  id: string;
  label: string;
  unit: string;
  value: number | null;
  peer: number | null;
  ratio: number | null;
  want: string;
  /** true / false, or null when not measurable (or only reported) */
  met: boolean | null;
  note?: string;
}

function gpuTargets(z: Sizes, bench: SectionResult | null, peer: PeerResult | null, memory: SectionResult | null, parity: SectionResult | null, tiny: boolean): TargetRow[] {
  const rows: TargetRow[] = [];
  const find = (prefix: string) => bench?.cases.find((c) => c.name.startsWith(prefix) && !c.error);
  const tp = (pred: (r: Record<string, unknown>) => boolean) => peer?.records.find((r) => !r.error && pred(r));
  const ratioRow = (id: string, label: string, unit: string, value: number | null, peerV: number | null, min: number | null, note?: string): TargetRow => {
    const ratio = value !== null && peerV !== null && peerV > 0 ? value / peerV : null;
    return { id, label, unit, value, peer: peerV, ratio, want: min === null ? 'report' : `≥ ${min.toFixed(2)}`, met: min === null || ratio === null ? null : ratio >= min, note };
  };
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const size = tiny ? ' (tiny)' : '';

  for (const prec of ['fp32', 'tf32'] as const) {
    const ours = bench?.cases.find((c) => c.name.startsWith('sgemm ') && c.name.endsWith(prec) && !c.error);
    const theirs = tp((r) => r.workload === 'sgemm' && r.precision === prec);
    const peerN = num(theirs?.n);
    const note = ours?.ok === false ? 'the spot check of C failed' : peerN !== null && peerN !== z.gemm ? `the peer ran ${peerN}³` : undefined;
    rows.push(ratioRow(`sgemm-${prec}`, `SGEMM ${z.gemm}³ ${prec} vs cuBLAS ${prec}${size}`, 'TFLOP/s',
      num(ours?.tflops), num(theirs?.tflops), prec === 'fp32' ? 0.8 : null, note));
  }
  const rn = find('resnet18');
  const tr = tp((r) => r.workload === 'resnet18');
  rows.push(ratioRow('resnet18', `ResNet-18 two-head step b${num(rn?.batch) ?? '?'} vs torch fp32${size}`, 'img/s', num(rn?.imagesPerS), num(tr?.images_per_s), 0.5));

  // copy time / kernel time, against the fastest device copy of the same bytes (ours or torch's)
  const copy = find('copy');
  const copyFor = (what: string): { seconds: number | null; via: string } => {
    const mine = num((copy?.[what] as { seconds?: number } | undefined)?.seconds);
    const theirs = num(tp((r) => r.workload === 'copy' && r.for === what)?.seconds);
    if (mine !== null && theirs !== null) return mine <= theirs ? { seconds: mine, via: 'avgk copy' } : { seconds: theirs, via: 'torch copy_' };
    return { seconds: mine ?? theirs, via: mine !== null ? 'avgk copy' : 'torch copy_' };
  };
  // time rows: value = our kernel's ms, peer = the reference's ms, ratio = reference time / ours
  const timeRow = (id: string, label: string, kernelS: number | null, refS: number | null, min: number | null, note: string) => {
    const ratio = kernelS !== null && refS !== null && kernelS > 0 ? refS / kernelS : null;
    rows.push({
      id, label, unit: 'ms', value: kernelS === null ? null : kernelS * 1e3, peer: refS === null ? null : refS * 1e3, ratio,
      want: min === null ? 'report' : `≥ ${min.toFixed(2)}`, met: min === null || ratio === null ? null : ratio >= min, note,
    });
  };
  const sel = find('selectKth');
  const selS = num((sel?.median as { seconds?: number } | undefined)?.seconds);
  const cs = copyFor('select');
  timeRow('select', `selectKth median n=${num(sel?.n) ?? '?'}: copy/select time`, selS, cs.seconds, 0.5,
    `copy = ${cs.via}${sel && sel.ok === false ? '; the threshold was WRONG' : ''}`);
  const ce = find('softmaxCrossEntropy');
  const cc = copyFor('ce');
  timeRow('ce', `softmax CE [${num(ce?.rows) ?? '?'},${num(ce?.cols) ?? '?'}] +grad: copy/loss time`, num(ce?.seconds), cc.seconds, 0.7, `copy = ${cc.via}`);
  const bce = find('sigmoidBce');
  const cb = copyFor('bce');
  timeRow('bce', `sigmoid BCE n=${num(bce?.n) ?? '?'} +grad: copy/loss time`, num(bce?.seconds), cb.seconds, 0.7, `copy = ${cb.via}`);
  // informational: against torch's own kernels (ratio > 1: avgk faster)
  timeRow('select-vs-torch', 'selectKth vs torch.kthvalue (time)', selS, num(tp((r) => r.workload === 'select')?.seconds), null, 'torch.kthvalue');
  timeRow('ce-vs-torch', 'softmax CE vs torch cross_entropy fwd+bwd', num(ce?.seconds), num(tp((r) => r.workload === 'ce')?.seconds), null, 'torch');
  timeRow('bce-vs-torch', 'sigmoid BCE vs torch BCE-with-logits fwd+bwd', num(bce?.seconds), num(tp((r) => r.workload === 'bce')?.seconds), null, 'torch');

  const mem = memory?.cases[0];
  const atS = mem?.atSample as { live?: number; reserved?: number } | undefined;
  const atE = mem?.atEnd as { live?: number; reserved?: number } | undefined;
  rows.push({
    id: 'memory', label: `device memory flat over ${num(mem?.steps) ?? '?'} steps (live)`, unit: 'KiB',
    value: atE?.live !== undefined ? atE.live / 1024 : null, peer: atS?.live !== undefined ? atS.live / 1024 : null,
    ratio: atE?.live !== undefined && atS?.live ? atE.live / atS.live : null, want: 'flat',
    met: mem && !mem.error ? mem.flat === true && mem.stoppedEarly !== true : null,
    note: atE && atS ? `reserved ${((atS.reserved ?? 0) / 2 ** 20).toFixed(1)} → ${((atE.reserved ?? 0) / 2 ** 20).toFixed(1)} MiB${mem?.stoppedEarly ? '; stopped early (time)' : ''}` : mem?.error,
  });
  if (parity) {
    const ran = parity.cases.length;
    const good = parity.cases.filter((c) => c.ok === true).length;
    rows.push({ id: 'parity-ts', label: 'TS ops cuda vs cpu (cases passed)', unit: 'cases', value: good, peer: ran, ratio: ran ? good / ran : null, want: 'all', met: ran ? good === ran && parity.problems.length === 0 : null });
  }
  return rows;
}

// ============================================================================ tables

function fmt(v: number | null, digits = 3): string {
  if (v === null || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e5) return String(v);
  if (a >= 1e5) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return v.toPrecision(digits);
  if (a === 0) return '0';
  if (a < 0.01) return v.toExponential(1);
  return v.toPrecision(digits - 1);
}

/** Fixed-width rows, each at most `width` characters (the label column is truncated). */
export function formatTargets(rows: TargetRow[], width = 100): string {
  const head = ['target', 'measured', 'peer', 'ratio', 'want', 'met'];
  const cells = rows.map((r) => [
    r.label, `${fmt(r.value)} ${r.unit}`.trim(), fmt(r.peer), r.ratio === null ? '—' : `${fmt(r.ratio)}×`, r.want,
    r.met === null ? (r.want === 'report' ? '(info)' : 'n/a') : r.met ? 'yes' : 'NO',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fixed = w.slice(1).reduce((a, b) => a + b + 2, 0);
  w[0] = Math.max(10, Math.min(w[0]!, width - fixed));
  const line = (c: string[]) => c.map((s, i) => {
    const t = i === 0 && s.length > w[0]! ? s.slice(0, w[0]! - 1) + '…' : s;
    return i === c.length - 1 ? t : i === 0 ? t.padEnd(w[i]!) : t.padStart(w[i]!);
  }).join('  ');
  const out = [line(head), '-'.repeat(Math.min(width, w.reduce((a, b) => a + b + 2, -2))), ...cells.map(line)];
  return out.join('\n');
}

// ============================================================================ main (the check)

function runCheck(o: Options): number {
  const t0 = performance.now();
  const deadline = t0 + o.budget * 1000;
  const left = () => (deadline - performance.now()) / 1000;
  const want = (s: string) => !o.only || o.only.includes(s) || s === 'env';
  const result: Record<string, unknown> = { tool: 'avgk gpu check (bench/gpu/check.ts)', tiny: o.tiny, started: new Date().toISOString(), budgetS: o.budget };
  const write = () => {
    result.seconds = +((performance.now() - t0) / 1000).toFixed(1);
    if (o.json) writeJsonAtomic(o.json, result);
  };
  const say = (s: string) => process.stdout.write(`gpu-check: ${s}\n`);

  // caps and the least each later section needs, in seconds (full sizes; --tiny is not timed)
  const plan: Record<string, { cap: number; floor: number }> = o.tiny
    ? { env: { cap: 60, floor: 10 }, parity: { cap: 600, floor: 30 }, memory: { cap: 300, floor: 20 }, bench: { cap: 600, floor: 30 }, torch: { cap: 120, floor: 10 } }
    : { env: { cap: 60, floor: 10 }, parity: { cap: 120, floor: 30 }, memory: { cap: 110, floor: 30 }, bench: { cap: 180, floor: 60 }, torch: { cap: 150, floor: 45 } };
  const order = SECTIONS.filter(want);
  const timeoutFor = (s: string) => {
    const later = order.slice(order.indexOf(s as (typeof SECTIONS)[number]) + 1).reduce((a, x) => a + plan[x]!.floor, 0);
    return Math.floor(Math.min(plan[s]!.cap, left() - later));
  };

  const env = runSection(o, 'env', Math.max(10, timeoutFor('env')));
  result.env = env.info ?? { available: false, error: env.problems.join('; ') || 'no answer' };
  const info = result.env as { available?: boolean; error?: string; device?: { name?: string; emulated?: boolean; computeCapability?: string; totalMemory?: number } };
  if (!info.available) {
    const why = info.error ?? env.problems.join('; ');
    result.available = false;
    result.error = why;
    write();
    say(`no usable GPU: ${why}`);
    return 2;
  }
  if (info.device?.emulated && !o.tiny) {
    const why = `the CUDA addon at ${cudaAddonPath()} is the CPU emulator; full sizes would take hours (pass --tiny)`;
    result.available = false;
    result.error = why;
    write();
    say(why);
    return 2;
  }
  result.available = true;
  say(`${info.device?.name} (cc ${info.device?.computeCapability}, ${((info.device?.totalMemory ?? 0) / 2 ** 30).toFixed(1)} GiB` +
    `${info.device?.emulated ? ', CPU emulator' : ''}), ${o.tiny ? 'tiny sizes' : 'full sizes'}, budget ${o.budget} s, addon ${cudaAddonPath()}`);
  write();

  const sections: Record<string, SectionResult> = {};
  for (const s of order.filter((x) => x !== 'env' && x !== 'torch')) {
    const to = timeoutFor(s);
    if (to < plan[s]!.floor / 2) {
      sections[s] = { section: s, seconds: 0, cases: [], problems: [], skipped: `out of time (${Math.max(0, Math.floor(left()))} s left)` };
      say(`${s}: skipped, out of time`);
      continue;
    }
    say(`${s}: running (time limit ${to} s)`);
    sections[s] = runSection(o, s, to);
    const sr = sections[s]!;
    const first = sr.problems[0] ? `; ${sr.problems.length} problem(s), the first: ${sr.problems[0].slice(0, 200)}` : '';
    say(`${s}: ${sr.cases.filter((c) => c.ok === true).length}/${sr.cases.length} ok in ${sr.seconds} s${first}`);
    result.sections = sections;
    write();
  }

  let peer: PeerResult | null = null;
  if (want('torch')) {
    const to = timeoutFor('torch');
    if (to < 10) peer = { ran: false, skipped: 'out of time', seconds: 0, records: [], errors: [] };
    else {
      say(`torch peer: ${o.python} bench/peers/torch_gpu.py (time limit ${to} s)`);
      peer = runTorchPeer(o, to);
    }
    say(peer.skipped ? `PyTorch peer skipped: ${peer.skipped}` : `torch peer: ${peer.records.length} records in ${peer.seconds} s${peer.errors.length ? `; errors: ${peer.errors.join('; ')}` : ''}`);
    result.torch = peer;
  }
  const targets = gpuTargets(sizes(o.tiny), sections.bench ?? null, peer, sections.memory ?? null, sections.parity ?? null, o.tiny);
  result.targets = targets;
  write();
  process.stdout.write(`\n${formatTargets(targets)}\n`);
  if (o.json) say(`wrote ${o.json}`);
  return 0;
}

// ============================================================================ summary of the whole check

interface StepRow {
  name: string;
  rc: number;
  seconds: number;
  limit: number;
}

function readSteps(dir: string): StepRow[] {
  const f = join(dir, 'steps.tsv');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
    const [name, rc, seconds, limit] = l.split('\t');
    return { name: name ?? '?', rc: Number(rc), seconds: Number(seconds), limit: Number(limit) };
  });
}

function readLog(dir: string, name: string): string {
  const f = join(dir, 'logs', `${name}.log`);
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

function readJson(f: string): unknown {
  try {
    return JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    return null;
  }
}

/** `cuda_parity_test` output: per-case lines, the total line, the first failures. */
export function parseParityLog(log: string): Record<string, unknown> {
  const total = /(\d+) cases, (\d+) checks, (\d+) failures/.exec(log);
  const failedCases = [...log.matchAll(/^(\S+)\s+\d+ checks FAILED$/gm)].map((m) => m[1]);
  const fails = [...log.matchAll(/^\s+FAIL (.*)$/gm)].slice(0, 20).map((m) => m[1]);
  const cannot = /cannot start the [^\n]*/.exec(log);
  return {
    cases: total ? Number(total[1]) : null, checks: total ? Number(total[2]) : null, failures: total ? Number(total[3]) : null,
    failedCases, firstFailures: fails, startError: cannot ? cannot[0] : undefined,
  };
}

/** The CLI's per-epoch lines: `epoch E/N  train loss L  val acc@K=k A (size s) ... T s, R img/s`. */
export function parseTrainLog(log: string): Record<string, unknown> {
  const epochs = [...log.matchAll(/^epoch (\d+)\/(\d+)\s+train loss ([\d.eE+-]+|NaN)\s+(.*)$/gm)].map((m) => {
    const val = [...m[4]!.matchAll(/val acc@K=([\d.]+) ([\d.]+|NaN)/g)].map((v) => ({ k: Number(v[1]), acc: Number(v[2]) }));
    const ips = /([\d.]+) img\/s/.exec(m[4]!);
    const secs = /([\d.]+) s(,|$)/.exec(m[4]!);
    return { epoch: Number(m[1]), of: Number(m[2]), trainLoss: Number(m[3]), val, imagesPerS: ips ? Number(ips[1]) : null, seconds: secs ? Number(secs[1]) : null };
  });
  const last = epochs[epochs.length - 1];
  const head = /^avgk train: .*? on (\S+) \(.*?\), (\w+)/m.exec(log);
  return { dataset: head?.[1] ?? null, model: head?.[2] ?? null, epochs, finalValAcc: last?.val[0]?.acc ?? null, finalK: last?.val[0]?.k ?? null, finalTrainLoss: last?.trainLoss ?? null };
}

/** A CPU benchmark record's name and shape, short enough for the table. */
function shortCase(name: string, shape: string): string {
  const n = name.replace(/^train\/(\w+?)(-cifar)?-two-head$/, 'train $1').replace(/^sgemm\/square$/, 'sgemm')
    .replace(/^softmaxCrossEntropy$/, 'softmax CE').replace(/^sigmoidBce$/, 'sigmoid BCE').replace(/^selectKth\//, 'select ');
  const s = shape.replace(/^batch=(\d+).*$/, 'b$1').replace(/^m=(\d+) k=\d+ n=\d+ NN$/, '$1³')
    .replace(/^rows=(\d+) cols=(\d+).*$/, '$1×$2').replace(/^n=(\d+)( m=\d+)?.*$/, 'n=$1');
  return `${n} ${s}`;
}

function summarize(o: Options): number {
  const dir = o.summarize!;
  const steps = readSteps(dir);
  const step = (n: string) => steps.find((s) => s.name === n);
  const stepOk = (n: string) => step(n)?.rc === 0;
  const env: Record<string, string> = {};
  if (existsSync(join(dir, 'env.txt'))) {
    for (const l of readFileSync(join(dir, 'env.txt'), 'utf8').split('\n')) {
      const i = l.indexOf('=');
      if (i > 0) env[l.slice(0, i)] = l.slice(i + 1);
    }
  }
  const logTail = (n: string, lines = 6) => readLog(dir, n).trim().split('\n').slice(-lines).join('\n');
  const stepsOut = steps.map((s) => ({ ...s, ok: s.rc === 0, timedOut: s.rc === 124 || s.rc === 137, skipped: s.rc === -1, tail: s.rc === 0 ? undefined : logTail(s.name) }));

  const parityLog = readLog(dir, 'parity-test');
  const parityCpp = parityLog ? parseParityLog(parityLog) : null;
  const trainGpu = parseTrainLog(readLog(dir, 'train-gpu'));
  const trainCpu = parseTrainLog(readLog(dir, 'train-cpu'));
  const node = readJson(join(dir, 'node-check.json')) as { targets?: TargetRow[]; available?: boolean; error?: string } | null;
  const cpuRecords = (readJson(join(dir, 'cpu-bench.json')) as BenchRecord[] | null) ?? [];

  const rows: TargetRow[] = [];
  for (const [id, label] of [['build-cpu', 'build: CPU addon (cmake)'], ['build-cuda', 'build: CUDA addon + parity test (nvcc)']] as const) {
    const s = step(id);
    rows.push({ id, label, unit: 's', value: s ? s.seconds : null, peer: null, ratio: null, want: 'builds', met: s ? s.rc === 0 : null, note: s && s.rc !== 0 ? logTail(id, 3) : undefined });
  }
  if (parityCpp) {
    const c = parityCpp as { cases: number | null; checks: number | null; failures: number | null; startError?: string };
    // a test that could not start the device measured nothing (the env row says why)
    const met = c.startError ? null : c.failures === null ? false : c.failures === 0 && stepOk('parity-test');
    rows.push({ id: 'parity-cpp', label: `C++ kernel parity on GPU (${c.cases ?? '?'} cases, ${c.checks ?? '?'} chk)`, unit: 'fail', value: c.failures, peer: null, ratio: null, want: '0 fail', met, note: c.startError ?? (step('parity-test')?.rc ? `rc ${step('parity-test')!.rc}` : undefined) });
  } else {
    rows.push({ id: 'parity-cpp', label: 'C++ kernel parity on the GPU', unit: '', value: null, peer: null, ratio: null, want: '0 fail', met: null, note: 'not run' });
  }
  const ga = trainGpu.finalValAcc as number | null;
  const ca = trainCpu.finalValAcc as number | null;
  rows.push({
    id: 'train', label: `train ${trainGpu.model ?? trainCpu.model ?? '?'}: val acc@K=${trainGpu.finalK ?? trainCpu.finalK ?? '?'}, cuda vs cpu`, unit: '', value: ga, peer: ca,
    ratio: ga !== null && ca ? ga / ca : null, want: '|Δ| ≤ 0.03', met: ga !== null && ca !== null ? Math.abs(ga - ca) <= 0.03 : null,
  });
  if (node?.targets) rows.push(...node.targets);
  else rows.push({ id: 'node-check', label: node?.available === false ? 'GPU check (node): no usable GPU' : 'GPU check (node)', unit: '', value: null, peer: null, ratio: null, want: 'runs', met: node?.available === false ? null : false, note: node?.error ?? 'no result' });

  // the CPU benchmarks' own targets (bench/run.ts), one row per record and ratio
  const cpuRows: TargetRow[] = [];
  for (const r of cpuRecords) {
    if ((r.impl ?? 'avgk') !== 'avgk') continue;
    for (const [k, v] of Object.entries(r.ratios ?? {})) {
      const t = targetOf(r, k);
      if (!t) continue;
      const met = t.min !== undefined ? v >= t.min : v <= (t.max ?? Infinity);
      cpuRows.push({
        id: `cpu:${r.name}:${r.shape}:${r.threads}:${k}`, label: `cpu ${shortCase(r.name, r.shape)} t${r.threads} vs ${k === 'time/memcpy' ? 'memcpy time' : k}`, unit: '',
        value: null, peer: null, ratio: v, want: t.min !== undefined ? `≥ ${t.min}` : `≤ ${t.max}`, met,
      });
    }
  }
  for (const r of cpuRows) {
    // measured and peer values of the record, where the ratio has them
    const [, name, shape, threads, k] = r.id.split(':');
    const rec = cpuRecords.find((x) => (x.impl ?? 'avgk') === 'avgk' && x.name === name && x.shape === shape && String(x.threads) === threads);
    if (!rec) continue;
    if (k === 'openblas' || k === 'torch') {
      const rate = rec.gflops ?? rec.imagesPerS ?? null;
      r.value = rate;
      r.unit = rec.gflops !== undefined ? 'GF/s' : 'img/s';
      r.peer = rate !== null && r.ratio ? rate / r.ratio : null;
    } else if (k === 'copy') {
      r.value = rec.gbps ?? null;
      r.unit = 'GB/s';
      r.peer = r.value !== null && r.ratio ? r.value / r.ratio : null;
    } else if (k === 'time/memcpy') {
      r.value = rec.seconds * 1e3;
      r.unit = 'ms';
      r.peer = r.ratio ? r.value / r.ratio : null;
    }
  }

  const all = [...rows, ...cpuRows];
  const met = all.filter((r) => r.met === true).length;
  const missed = all.filter((r) => r.met === false).length;
  const summary = {
    tool: 'avgk GPU check (bench/gpu-check.sh)',
    finished: new Date().toISOString(),
    env,
    steps: stepsOut,
    parityCpp,
    training: { gpu: trainGpu, cpu: trainCpu },
    node,
    cpuBench: cpuRecords,
    targets: rows,
    cpuTargets: cpuRows,
    counts: { met, missed, unknown: all.length - met - missed },
  };
  if (o.json) writeJsonAtomic(o.json, summary);

  const wrap = (s: string): string[] => s.match(/.{1,100}(\s|$)|\S{101,}/g)?.map((x) => x.trimEnd()) ?? [s];
  const status = (s: StepRow) => (s.rc === 0 ? 'ok' : s.rc === -1 ? 'skipped' : s.rc === 124 || s.rc === 137 ? 'TIMEOUT' : `rc=${s.rc}`);
  const lines: string[] = ['', '='.repeat(100)];
  lines.push(...wrap(`avgk GPU check: ${env.gpu ?? 'no GPU'}; ${env.summary ?? ''}`));
  lines.push(...wrap('steps: ' + steps.map((s) => `${s.name} ${status(s)} ${s.seconds.toFixed(0)}s`).join(', ')));
  lines.push('='.repeat(100));
  lines.push(formatTargets(rows));
  if (cpuRows.length) lines.push('', formatTargets(cpuRows));
  else lines.push('', 'cpu benchmarks: no targets recorded' + (step('cpu-bench') ? ` (cpu-bench rc=${step('cpu-bench')!.rc})` : ''));
  const notes = [...rows, ...cpuRows].filter((r) => r.note && (r.met === false || (r.met === null && r.want !== 'report'))).map((r) => `note: ${r.label}: ${r.note!.replace(/\s+/g, ' ')}`);
  for (const n of notes.slice(0, 8)) lines.push(...wrap(n));
  lines.push(`targets: ${met} met, ${missed} missed, ${all.length - met - missed} not measured${o.json ? `; details in ${o.json}` : ''}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

// ============================================================================ entry

function isMain(): boolean {
  const a = process.argv[1];
  if (!a) return false;
  try {
    return import.meta.url === pathToFileURL(resolve(a)).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  let o: Options;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(64);
  }
  try {
    process.exitCode = o.summarize ? summarize(o) : o.child ? runChild(o) : runCheck(o);
  } catch (e) {
    process.stderr.write(`gpu-check: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}

