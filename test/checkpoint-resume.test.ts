/**
 * Exact resumption through a checkpoint file: training N epochs in one go equals training, stopping
 * (at an epoch boundary or mid-epoch), saving, restoring into fresh objects and continuing — to the
 * last bit of every parameter, buffer, optimiser slot and the best-epoch weights.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, type Dataset } from '../src/data/index.js';
import { Rng } from '../src/data/rng.js';
import { manualSeed, globalGenerator } from '../src/tensor/random.js';
import { buildModel, type TwoHeadModel } from '../src/avgk/model.js';
import { createMethod, type AvgKMethod } from '../src/avgk/losses.js';
import { SGD, Adam, type Optimizer } from '../src/optim/optimizer.js';
import { CosineSchedule } from '../src/optim/schedule.js';
import { fit, type FitOptions, type FitResult } from '../src/train/fit.js';
import {
  readTrainingCheckpoint,
  restoreTraining,
  saveTrainingCheckpoint,
  bestWeights,
  resumeWeights,
  type StateDict,
} from '../src/train/checkpointing.js';

const dir = mkdtempSync(join(tmpdir(), 'avgk-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ds: Dataset = loadDataset({ name: 'synthetic', numClasses: 10, numSuperclasses: 2, dim: 8, nTrain: 500, nVal: 150, nTest: 50, seed: 3, normalize: true });

interface Setup {
  model: TwoHeadModel;
  method: AvgKMethod;
  optimizer: Optimizer;
}

/** A method name, optionally with options after a colon: 'two-head:ema' is two-head with source 'ema'. */
function setup(methodName: string, opt: 'sgd' | 'adam', seed: number): Setup {
  manualSeed(seed);
  const model = buildModel({ name: 'mlp', hidden: [32, 16] }, ds.sampleShape, ds.numClasses);
  const [name, source] = methodName.split(':') as [string, string | undefined];
  const extra = source ? { source, emaDecay: 0.9 } : {};
  const method = createMethod(name, { k: 2, numClasses: ds.numClasses, numTrain: ds.train.n, rng: new Rng(seed + 1), ...extra });
  const optimizer =
    opt === 'sgd'
      ? new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })
      : new Adam(model.parameters(), { lr: 0.003, weightDecay: 1e-4 });
  return { model, method, optimizer };
}

const EPOCHS = 2;
function opts(extra: Partial<FitOptions> = {}): FitOptions {
  return { epochs: EPOCHS, batchSize: 64, ks: [2, 3], seed: 7, schedule: new CosineSchedule(0.05, EPOCHS), ...extra };
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectSameState(a: StateDict, b: StateDict, what: string): void {
  expect(Object.keys(b).sort(), what).toEqual(Object.keys(a).sort());
  for (const name of Object.keys(a)) {
    expect(b[name].shape, `${what} ${name}`).toEqual(a[name].shape);
    expect(bytes(b[name].data).equals(bytes(a[name].data)), `${what} ${name} differs`).toBe(true);
  }
}

/** Uninterrupted reference run: final (best) weights, last weights, optimiser slots, method state. */
function reference(methodName: string, opt: 'sgd' | 'adam') {
  const s = setup(methodName, opt, 11);
  let last: StateDict | null = null;
  const res = fit(s.model, s.method, s.optimizer, ds, opts({ onEpoch: (e) => void (e.epoch === EPOCHS - 1 && (last = s.model.stateDict())) }));
  return { s, res, last: last! };
}

async function stopSaveResume(methodName: string, opt: 'sgd' | 'adam', stopAfterSteps: number | 'epoch', file: string) {
  const a = setup(methodName, opt, 11);
  let steps = 0;
  let epochsDone = 0;
  const first = fit(a.model, a.method, a.optimizer, ds, {
    ...opts(),
    onStep: () => void steps++,
    onEpoch: () => void epochsDone++,
    shouldStop: () => (stopAfterSteps === 'epoch' ? epochsDone >= 1 : steps >= stopAfterSteps),
  });
  expect(first.interrupted).toBe(true);
  expect(first.calibrations).toEqual([]);
  await saveTrainingCheckpoint(file, {
    ...a,
    state: first.state,
    config: { note: 'test' },
    classNames: ds.classNames,
    status: 'interrupted',
  });
  // disturb the global generator: the checkpoint must restore it
  manualSeed(999);
  globalGenerator().next();
  const b = setup(methodName, opt, 12345); // different initial weights, overwritten by the checkpoint
  const ckpt = await readTrainingCheckpoint(file);
  expect(ckpt.meta.status).toBe('interrupted');
  const state = restoreTraining(ckpt, b);
  expect(state.epoch).toBe(first.state.epoch);
  expect(state.batch).toBe(first.state.batch);
  expect(state.step).toBe(first.state.step);
  let last: StateDict | null = null;
  const res = fit(b.model, b.method, b.optimizer, ds, opts({ resume: state, onEpoch: (e) => void (e.epoch === EPOCHS - 1 && (last = b.model.stateDict())) }));
  return { s: b, res, last: last!, first };
}

function compareRuns(ref: { s: Setup; res: FitResult; last: StateDict }, got: { s: Setup; res: FitResult; last: StateDict }): void {
  expect(got.res.interrupted).toBe(false);
  expectSameState(ref.last, got.last, 'last weights');
  expectSameState(ref.s.model.stateDict(), got.s.model.stateDict(), 'final (best) weights');
  expect(ref.res.state.bestState).not.toBeNull();
  expectSameState(ref.res.state.bestState!, got.res.state.bestState!, 'bestState');
  expect(got.res.bestEpoch).toBe(ref.res.bestEpoch);
  expect(got.res.state.step).toBe(ref.res.state.step);
  // optimiser slots, bit for bit
  const ra = ref.s.optimizer.stateDict();
  const ga = got.s.optimizer.stateDict();
  expect(ga.stepCount).toBe(ra.stepCount);
  ra.slots.forEach((slots, i) => {
    for (const [k, v] of Object.entries(slots)) expect(bytes(ga.slots[i][k]).equals(bytes(v)), `optimiser slot ${i}.${k}`).toBe(true);
  });
  // method state (ROLE's estimates, two-head's EMA teacher)
  const rm = ref.s.method.stateDict?.() ?? {};
  const gm = got.s.method.stateDict?.() ?? {};
  expect(Object.keys(gm).sort()).toEqual(Object.keys(rm).sort());
  for (const [k, v] of Object.entries(rm)) expect(bytes(gm[k]).equals(bytes(v)), `method state ${k}`).toBe(true);
  // history: same losses and validation metrics (timings differ)
  expect(got.res.history.map((h) => [h.epoch, h.trainLoss, h.val])).toEqual(ref.res.history.map((h) => [h.epoch, h.trainLoss, h.val]));
  expect(got.res.calibrations).toEqual(ref.res.calibrations);
}

describe('checkpoint + resume is exact', () => {
  it('two-head, SGD: 2 epochs == 1 epoch, save, restore, 1 more epoch', async () => {
    const ref = reference('two-head', 'sgd');
    const got = await stopSaveResume('two-head', 'sgd', 'epoch', join(dir, 'epoch.safetensors'));
    expect(got.first.state.epoch).toBe(1);
    expect(got.first.state.batch).toBe(0);
    compareRuns(ref, got);
  });

  it('two-head, SGD: stop mid-epoch (shouldStop after 3 steps), save, restore, continue', async () => {
    const ref = reference('two-head', 'sgd');
    const got = await stopSaveResume('two-head', 'sgd', 3, join(dir, 'mid.safetensors'));
    expect(got.first.state.epoch).toBe(0);
    expect(got.first.state.batch).toBe(3);
    compareRuns(ref, got);
  });

  it("two-head with source 'ema': the teacher's averaged weights survive a mid-epoch stop", async () => {
    const ref = reference('two-head:ema', 'sgd');
    expect(Object.keys(ref.s.method.stateDict!()).length).toBe(ref.s.model.parameters().length);
    const got = await stopSaveResume('two-head:ema', 'sgd', 5, join(dir, 'ema.safetensors'));
    expect(got.first.state.batch).toBe(5);
    compareRuns(ref, got);
  });

  it('ROLE with Adam: label estimates and Adam buffers survive a mid-epoch stop in epoch 2', async () => {
    const ref = reference('role', 'adam');
    const got = await stopSaveResume('role', 'adam', 10, join(dir, 'role.safetensors'));
    expect(got.first.state.epoch).toBe(1);
    compareRuns(ref, got);
  });
});

describe('training checkpoint files', () => {
  it('stores best weights, RNG, TrainState and calibrations; rejects damaged files', async () => {
    const s = setup('two-head', 'sgd', 5);
    const res = fit(s.model, s.method, s.optimizer, ds, opts({ epochs: 1, schedule: undefined }));
    const file = join(dir, 'full.safetensors');
    await saveTrainingCheckpoint(file, { ...s, state: res.state, config: { a: 1 }, classNames: ds.classNames, status: 'complete', calibrations: { method: res.calibrations } });
    const ck = await readTrainingCheckpoint(file);
    expect(ck.meta.hasBest).toBe(true);
    expect(ck.meta.format).toBe('avgk-checkpoint');
    expect(ck.meta.thresholds['2']).toBe(res.calibrations[0].threshold);
    expect(ck.meta.calibrations.method).toEqual(res.calibrations);
    expect(ck.meta.classNames).toEqual(ds.classNames);
    expect(ck.meta.rng).toEqual(globalGenerator().getState());
    expectSameState(res.state.bestState!, bestWeights(ck), 'best');
    expect(Object.keys(resumeWeights(ck)).length).toBeGreaterThan(0);
    expect(Object.keys(ck.tensors).some((k) => k.startsWith('optim.') && k.endsWith('.momentum'))).toBe(true);

    // truncated
    const raw = readFileSync(file);
    const bad = join(dir, 'truncated.safetensors');
    writeFileSync(bad, raw.subarray(0, raw.length - 100));
    await expect(readTrainingCheckpoint(bad)).rejects.toThrow(/checkpoint .*truncated|corrupt/);
    // a model of another size
    const other = setup('two-head', 'sgd', 5);
    const small = buildModel({ name: 'mlp', hidden: [8] }, ds.sampleShape, ds.numClasses);
    expect(() => restoreTraining(ck, { model: small, optimizer: new SGD(small.parameters(), { lr: 0.1 }), method: other.method })).toThrow(/checkpoint .*weights do not fit/);
  });
});
