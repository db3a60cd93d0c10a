/**
 * Tensors on the 'cuda' device, run on the CPU emulator's build of the CUDA addon: every op
 * forward and backward against the same op on the CPU, moves between devices, mixing errors,
 * memory ownership (dispose, tidy, flat memory over many steps), training with fit, checkpoints
 * across devices. The kernels themselves are checked in test/cuda-kernels.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { cudaEmulatorUnderTest } from './helpers/cuda.js';
import { Tensor, tensor, zeros } from '../src/tensor/tensor.js';
import { Rng } from '../src/data/rng.js';
import { noGrad } from '../src/autograd/grad-mode.js';
import * as E from '../src/autograd/ops/elementwise.js';
import * as R from '../src/autograd/ops/reduce.js';
import * as S from '../src/autograd/ops/shaping.js';
import { matmul } from '../src/autograd/ops/matmul.js';
import { softmax, logSoftmax } from '../src/autograd/ops/softmax.js';
import { softmaxCrossEntropy, sigmoidBce } from '../src/autograd/ops/loss.js';
import { conv2d, maxPool2d, avgPool2d, batchNorm, dropout } from '../src/autograd/ops/nn.js';
import { kthLargest } from '../src/autograd/ops/select.js';
import { tidy, keep } from '../src/tensor/scope.js';
import { cudaAvailable, cudaBackend, cudaMemStats, cudaDeviceInfo, cudaZeros } from '../src/backend/cuda/index.js';
import { pseudoLabels, pseudoLabelTargets } from '../src/avgk/pseudo-labels.js';
import { calibrateThreshold } from '../src/avgk/calibrate.js';
import { buildModel } from '../src/avgk/model.js';
import { createMethod } from '../src/avgk/losses.js';
import { SGD, Adam } from '../src/optim/optimizer.js';
import { fit } from '../src/train/fit.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { runCli } from '../src/cli/main.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function cli(argv: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    stdout: { isTTY: false, write: (c: string) => ((out += c), true) },
    stderr: { isTTY: false, write: (c: string) => ((err += c), true) },
    cwd,
  });
  return { code, out, err };
}

const { skip } = cudaEmulatorUnderTest('cuda-device');

function rand(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r.next();
  return new Tensor(d, shape);
}

function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-6): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w)) {
      expect(Number.isNaN(g), `${what}[${i}]: NaN expected, got ${g}`).toBe(true);
      continue;
    }
    if (Math.abs(g - w) > atol + rtol * Math.abs(w)) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
  }
}

/**
 * Runs f on CPU leaves and on their CUDA copies, with a random upstream gradient: outputs, input
 * gradients and devices must agree.
 */
function parity(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol: [number, number] = [1e-5, 1e-6]): void {
  const cpu = inputs.map((t) => new Tensor(Float32Array.from(t.dataSync() as Float32Array), t.shape).setRequiresGrad(true));
  const gpu = inputs.map((t) => t.to('cuda').detach().setRequiresGrad(true));
  const yc = f(...cpu);
  const yg = f(...gpu);
  expect(yg.device, `${name}: output device`).toBe('cuda');
  expectClose(`${name} forward`, yg.toFlatArray(), yc.toFlatArray(), ...tol);
  const up = rand([...yc.shape], 99);
  yc.backward(up);
  yg.backward(up.to('cuda'));
  cpu.forEach((c, i) => {
    expect(gpu[i]!.grad!.device, `${name}: grad device`).toBe('cuda');
    expectClose(`${name} grad ${i}`, gpu[i]!.grad!.toFlatArray(), c.grad!.toFlatArray(), ...tol);
  });
}

describe.skipIf(skip)('tensors on the cuda device (CPU emulator)', () => {
  it('the emulated device starts and reports itself', () => {
    expect(cudaAvailable()).toEqual({ available: true, error: null });
    expect(cudaDeviceInfo().emulated).toBe(true);
  });

  it('to / cpu / cuda / dataSync / item move and read data explicitly', async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const g = x.to('cuda');
    expect(g.device).toBe('cuda');
    expect(g.to('cuda')).toBe(g);
    expect(g.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Array.from(await g.dataAsync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(g.cpu().device).toBe('cpu');
    expect(g.T.cpu().toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
    expect(g.slice(1, 1, 3).toArray()).toEqual([[2, 3], [5, 6]]);
    expect(tensor(7, { device: 'cuda' }).item()).toBe(7);
    expect(zeros([2, 2], { device: 'cuda', dtype: 'int32' }).toArray()).toEqual([[0, 0], [0, 0]]);
    expect(String(g)).toMatch(/cuda/);
    expect(() => x.to('tpu' as never)).toThrow(/Tensor.to: unknown device "tpu"/);
    // gradients flow back across a move
    const leaf = tensor([1, 2, 3]).setRequiresGrad(true);
    leaf.cuda().mul(leaf.cuda()).sum().backward();
    expect(leaf.grad!.device).toBe('cpu');
    expect(leaf.grad!.toFlatArray()).toEqual([2, 4, 6]);
  });

  it('an op given tensors on two devices names both', () => {
    const a = tensor([1, 2]);
    const b = tensor([3, 4], { device: 'cuda' });
    expect(() => a.add(b)).toThrow(/add: expected all tensors on the same device, got cpu .* and cuda/);
    expect(() => matmul(a.reshape([1, 2]), b.reshape([2, 1]))).toThrow(/matmul: .*cpu.*cuda/);
    expect(() => softmaxCrossEntropy(rand([2, 3], 1).cuda(), tensor([0, 1], { dtype: 'int32' }))).toThrow(/softmaxCrossEntropy: .*cuda.*cpu/);
  });

  it('elementwise, broadcast, reductions and shaping match the CPU forward and backward', () => {
    const x = rand([3, 4], 1);
    const pos = rand([3, 4], 2, 0.2, 2);
    parity('exp·log·sqrt', (a, b) => a.exp().add(b.log()).add(b.sqrt()), [x, pos]);
    parity('sigmoid·tanh·relu·abs·neg', (a) => a.sigmoid().mul(a.tanh()).add(a.relu()).sub(a.abs()).add(a.neg()), [x]);
    parity('pow·affine·clamp', (a) => a.pow(3).mul(2).add(1).add(E.clamp(a, -0.5, 0.25)), [x]);
    parity('broadcast binary', (a, b) => a.mul(b).div(b.add(3)).sub(a), [x, rand([1, 4], 3)]);
    parity('maximum·minimum', (a, b) => E.maximum(a, b).add(E.minimum(a, b)), [x, rand([3, 1], 4)]);
    parity('sum·mean·max', (a) => a.sum(0).add(a.mean(0)).add(a.max(0)), [x]);
    parity('max over rows', (a) => a.max(1, true).mul(a), [rand([5, 70], 5)]);
    parity('transpose·permute·reshape·slice', (a) => a.T.reshape([2, 6]).slice(1, 1, 5).permute(1, 0).contiguous(), [x]);
    parity('concat·stack', (a, b) => S.stack([S.concat([a, b], 1), S.concat([b, a], 1)], 0), [x, rand([3, 2], 6)]);
    parity('gather·indexSelect', (a) => a.gather(1, tensor([[0, 3], [1, 1], [2, 0]], { dtype: 'int32' })).sum().add(a.indexSelect(0, [2, 0, 2]).sum()), [x]);
    parity('matmul (2-D, batched, transposed)', (a, b, c) => matmul(a, b).add(matmul(c, c.transpose(-1, -2)).sum(0).slice(0, 0, 3).slice(1, 0, 5)), [rand([3, 7], 7), rand([7, 5], 8), rand([2, 5, 6], 9)]);
    parity('softmax·logSoftmax', (a) => softmax(a, 1).add(logSoftmax(a, 0)), [rand([4, 6], 10, -4, 4)]);
  });

  it('losses, convolution, pooling and batch norm match the CPU forward and backward', () => {
    const labels = new Int32Array([2, 0, 1, 2]);
    parity('softmaxCrossEntropy', (a) => softmaxCrossEntropy(a, labels, { smoothing: 0.1 }), [rand([4, 3], 11, -3, 3)]);
    const t = new Float32Array([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0]);
    parity('sigmoidBce', (a) => sigmoidBce(a, t, { weights: new Float32Array(12).fill(0.5), reduction: 'batchmean' }), [rand([4, 3], 12, -4, 4)]);
    parity('conv2d stride 2 pad 1 with bias', (x, w, b) => conv2d(x, w, b, { stride: 2, padding: 1 }), [rand([2, 3, 7, 6], 13), rand([4, 3, 3, 3], 14), rand([4], 15)], [1e-4, 1e-5]);
    parity('maxPool2d·avgPool2d', (x) => maxPool2d(x, 3, 2, 1).sum().add(avgPool2d(x, 2).sum()), [rand([2, 2, 6, 5], 16)]);
    for (const relu of [false, true]) {
      const rmC = new Float32Array(3), rvC = new Float32Array(3).fill(1);
      const rmG = tensor([0, 0, 0], { device: 'cuda' }), rvG = tensor([1, 1, 1], { device: 'cuda' });
      let calls = 0;
      parity(`batchNorm relu=${relu}`, (x, g, b) => {
        const st = calls++ === 0 ? { runningMean: rmC, runningVar: rvC } : { runningMean: rmG, runningVar: rvG };
        return batchNorm(x, g, b, st, { training: true, relu });
      }, [rand([4, 3, 5, 5], 17, -2, 3), rand([3], 18, 0.5, 1.5), rand([3], 19)], [1e-4, 1e-5]);
      expectClose('running mean', rmG.toFlatArray(), Array.from(rmC), 1e-5, 1e-6);
      expectClose('running var', rvG.toFlatArray(), Array.from(rvC), 1e-5, 1e-6);
    }
    // dropout draws the same mask on both devices from the same generator
    const x = rand([5, 8], 20);
    const a = dropout(x, 0.3, true, new Rng(3));
    const b = dropout(x.cuda(), 0.3, true, new Rng(3));
    expect(b.toFlatArray()).toEqual(a.toFlatArray());
  });

  it('threshold search, pseudo-labels and calibration run on the device', () => {
    const scores = rand([40, 10], 21);
    for (const m of [1, 7, 200, 400]) expect(kthLargest(scores.cuda(), m)).toBe(kthLargest(scores, m));
    const mask = new Uint8Array(400).map((_, i) => (i % 3 === 0 ? 0 : 1));
    expect(kthLargest(scores.cuda(), 50, mask)).toBe(kthLargest(scores, 50, mask));
    const probs = noGrad(() => softmax(rand([16, 5], 22, -2, 2), 1));
    // ties: a row of equal probabilities
    const pd = probs.dataSync() as Float32Array;
    pd.fill(0.2, 0, 5);
    const labels = new Int32Array(16).map((_, i) => i % 5);
    for (const variant of ['true-plus-topk', 'batch-topk'] as const) {
      for (const k of [1.5, 2, 3.25]) {
        const want = pseudoLabels(pd, labels, 16, 5, k, variant);
        const got = pseudoLabelTargets(new Tensor(pd, [16, 5]).cuda(), labels, k, variant);
        expect(got.device).toBe('cuda');
        expect(got.toFlatArray(), `${variant} K=${k}`).toEqual(Array.from(want));
      }
    }
    for (const k of [1, 2.5]) {
      const want = calibrateThreshold(scores.dataSync() as Float32Array, 40, 10, k, { seed: 4 });
      expect(calibrateThreshold(scores.cuda(), 40, 10, k, { seed: 4 })).toEqual(want);
    }
    const nan = rand([4, 5], 1);
    (nan.data as Float32Array)[3] = NaN;
    expect(() => calibrateThreshold(nan.cuda(), 4, 5, 2)).toThrow(/NaN/);
  });

  it('the addon rejects bad kernel arguments with the op, the names and the sizes', () => {
    const be = cudaBackend();
    const g = { n: 1, c: 2, h: 4, w: 4, o: 3, kh: 3, kw: 3, stride: 1, pad: 1, oh: 4, ow: 4 };
    const x = cudaZeros(32);
    const w = cudaZeros(54);
    const out = cudaZeros(48);
    be.conv2dForward(x, w, null, out, g);
    expect(() => be.conv2dForward(x, cudaZeros(53), null, out, g)).toThrow(
      /conv2dForward.*w has 53 elements but w \[o,c,kh,kw\] .* needs 54/,
    );
    const big = cudaZeros(80);
    expect(() => be.conv2dForward(big.subarray(0, 32), w, null, big.subarray(32, 80), g)).not.toThrow();
    expect(() => be.conv2dForward(big.subarray(0, 32), w, null, big.subarray(16, 64), g)).toThrow(
      /conv2dForward.*share memory|overlap/,
    );
    const p = { n: 1, c: 2, h: 4, w: 4, k: 2, stride: 2, pad: 0, oh: 2, ow: 2 };
    expect(() => be.maxPool2dForward(x, cudaZeros(8), cudaZeros(7, 'int32'), p)).toThrow(
      /maxPool2dForward.*argmax has 7 elements/,
    );
    const [gamma, beta, mean, variance] = [cudaZeros(2), cudaZeros(2), cudaZeros(2), cudaZeros(2)];
    expect(() => be.batchNormForward(x, gamma, beta, cudaZeros(32), mean, variance, 1, 2, 16, -1, true, false)).toThrow(
      /batchNormForward.*eps must be >= 0/,
    );
    const gone = cudaZeros(32);
    gone.block.dispose();
    expect(() => be.conv2dForward(gone, w, null, out, g)).toThrow(/conv2dForward.*x/);
  });

  it('dispose, tidy and keep own the device memory', () => {
    const base = cudaMemStats().live;
    const a = tensor([1, 2, 3], { device: 'cuda' });
    expect(cudaMemStats().live).toBe(base + 12);
    a.dispose();
    expect(a.isDisposed).toBe(true);
    expect(cudaMemStats().live).toBe(base);
    expect(() => tidy(() => a.add(1).toFlatArray())).toThrow(/disposed/);
    expect(cudaMemStats().live).toBe(base);
    let kept: Tensor | null = null;
    const out = tidy(() => {
      const x = tensor([1, 2, 3, 4], { device: 'cuda' });
      kept = keep(x.mul(2));
      x.add(1).exp();
      return x.sum();
    });
    expect(out.item()).toBe(10);
    expect(kept!.toFlatArray()).toEqual([2, 4, 6, 8]);
    expect(cudaMemStats().live).toBe(base + 4 + 16);
    out.dispose();
    kept!.dispose();
    expect(cudaMemStats().live).toBe(base);
    expect(() => tidy(() => {
      tensor([1], { device: 'cuda' });
      throw new Error('boom');
    })).toThrow('boom');
    expect(cudaMemStats().live).toBe(base);
  });

  it('a training loop keeps flat device memory', () => {
    const model = buildModel({ name: 'mlp', hidden: [16] }, [8], 4, { rng: new Rng(1) }).to('cuda');
    const method = createMethod('two-head', { k: 2, numClasses: 4 });
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = rand([32, 8], 23).cuda();
    const labels = new Int32Array(32).map((_, i) => i % 4);
    const step = () => tidy(() => {
      const loss = method.loss(model.forward(x), { labels, indices: new Int32Array(32) });
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    });
    for (let i = 0; i < 5; i++) step();
    const after5 = cudaMemStats().live;
    for (let i = 0; i < 200; i++) step();
    expect(cudaMemStats().live).toBe(after5);
  });

  it('fit on cuda trains like fit on the CPU, and checkpoints cross devices', () => {
    const ds = generateSynthetic({ numClasses: 6, numSuperclasses: 2, dim: 8, nTrain: 256, nVal: 96, nTest: 64, seed: 5 });
    const run = (device: 'cpu' | 'cuda') => {
      const model = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses, { rng: new Rng(7) });
      const method = createMethod('two-head', { k: 2, numClasses: ds.numClasses });
      const opt = new Adam(model.parameters(), { lr: 0.01 });
      const r = fit(model, method, opt, ds, { epochs: 2, batchSize: 32, ks: [1.5, 2], seed: 3, device });
      return { model, r };
    };
    const c = run('cpu');
    const g = run('cuda');
    expect(g.model.device).toBe('cuda');
    expect(g.r.history.length).toBe(2);
    for (let e = 0; e < 2; e++) expect(g.r.history[e]!.trainLoss).toBeCloseTo(c.r.history[e]!.trainLoss, 3);
    const sc = c.model.stateDict();
    const sg = g.model.stateDict();
    for (const k of Object.keys(sc)) expectClose(`weights ${k}`, sg[k]!.data, sc[k]!.data, 1e-3, 1e-4);
    // a state dict written on the GPU loads on the CPU, and the reverse
    const back = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses, { rng: new Rng(99) });
    back.loadStateDict(sg);
    expect(back.stateDict()).toEqual(sg);
    const onGpu = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses, { rng: new Rng(98) }).to('cuda');
    onGpu.loadStateDict(sc);
    expect(onGpu.stateDict()).toEqual(sc);
    expect(onGpu.device).toBe('cuda');
  });

  it("two-head with an EMA teacher trains on cuda like on the CPU, teacher state included", () => {
    const ds = generateSynthetic({ numClasses: 6, numSuperclasses: 2, dim: 8, nTrain: 256, nVal: 96, nTest: 64, seed: 6 });
    const run = (device: 'cpu' | 'cuda') => {
      const model = buildModel({ name: 'mlp', hidden: [16] }, ds.sampleShape, ds.numClasses, { rng: new Rng(8) });
      const method = createMethod('two-head', { k: 2, numClasses: ds.numClasses, source: 'ema', emaDecay: 0.9 });
      const r = fit(model, method, new Adam(model.parameters(), { lr: 0.01 }), ds, { epochs: 2, batchSize: 32, ks: [2], seed: 3, device });
      return { model, method, r };
    };
    const c = run('cpu');
    const g = run('cuda');
    for (let e = 0; e < 2; e++) expect(g.r.history[e]!.trainLoss).toBeCloseTo(c.r.history[e]!.trainLoss, 3);
    const tc = c.method.stateDict!();
    const tg = g.method.stateDict!();
    expect(Object.keys(tg).sort()).toEqual(Object.keys(tc).sort());
    for (const k of Object.keys(tc)) expectClose(`teacher ${k}`, tg[k]!, tc[k]!, 1e-3, 1e-4);
    // the teacher lags the weights it averages
    const [name, w] = Object.entries(g.model.stateDict())[0]!;
    expect(Array.from(w.data).some((v, i) => Math.abs(v - tg[`two-head.ema.${name}`]![i]!) > 1e-4)).toBe(true);
  });

  it('avgk train --device cuda writes a checkpoint that eval and predict read on either device', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'avgk-cuda-cli-'));
    try {
      const data = JSON.stringify({ name: 'synthetic', numClasses: 6, numSuperclasses: 2, dim: 6, nTrain: 300, nVal: 100, nTest: 100 });
      const common = ['--dataset-config', data, '--hidden', '16', '--batch-size', '32', '--seed', '1', '--no-report', '--quiet'];
      const gpu = await cli(['train', ...common, '--epochs', '2', '--device', 'cuda', '--out', 'g'], dir);
      expect(gpu.code, gpu.err).toBe(0);
      const cpuEval = await cli(['eval', '--checkpoint', 'g/checkpoint.safetensors', '--device', 'cpu', '--json'], dir);
      const gpuEval = await cli(['eval', '--checkpoint', 'g/checkpoint.safetensors', '--device', 'cuda', '--json'], dir);
      expect(cpuEval.code, cpuEval.err).toBe(0);
      expect(gpuEval.code, gpuEval.err).toBe(0);
      const rows = (r: { out: string }) => (JSON.parse(r.out) as { rows: { method: string; avgKAccuracy: number }[] }).rows;
      const [rc, rg] = [rows(cpuEval), rows(gpuEval)];
      expect(rg.map((r) => r.method)).toEqual(rc.map((r) => r.method));
      // the same weights scored by two devices' kernels: equal up to float rounding at the threshold
      rg.forEach((r, i) => expect(Math.abs(r.avgKAccuracy - rc[i]!.avgKAccuracy)).toBeLessThanOrEqual(0.02));
      // resume the GPU run on the CPU for one more epoch
      const more = await cli(['train', '--resume', 'g/checkpoint.safetensors', '--epochs', '3', '--device', 'cpu', '--no-report', '--quiet'], dir);
      expect(more.code, more.err).toBe(0);
      const pred = await cli(['predict', '--checkpoint', 'g/checkpoint.safetensors', '--device', 'cuda', '--split', 'test'], dir);
      expect(pred.code, pred.err).toBe(0);
      expect(pred.out.trim().split('\n')).toHaveLength(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
