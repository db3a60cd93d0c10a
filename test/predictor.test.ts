/**
 * Predictor: a checkpoint of `avgk train` loaded with loadPredictor predicts the same sets as
 * `avgk eval` / `avgk predict` on the run's data, from raw inputs too (the stored normalisation),
 * without the training data; `avgk predict --input` output (JSONL and CSV) carries scores, true
 * labels when known and the original order.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { loadPredictor, Tensor } from '../src/index.js';
import { loadDataset } from '../src/data/index.js';
import { readTrainingCheckpoint } from '../src/train/checkpointing.js';
import { runSpecOf } from '../src/cli/runtime.js';
import { encodeIdx } from '../src/data/idx.js';
import { writeFileSync } from 'node:fs';

let dir = '';
const quiet = () => {
  let out = '';
  let err = '';
  return { io: { stdout: { write: (c: string) => ((out += c), true) }, stderr: { write: (c: string) => ((err += c), true) }, cwd: dir }, out: () => out, err: () => err };
};
// image-shaped synthetic data (normalised during training) so raw-input preprocessing matters
const DATA = JSON.stringify({ name: 'synthetic', numClasses: 4, numSuperclasses: 1, dim: 12, nTrain: 240, nVal: 80, nTest: 60, image: { channels: 1, size: 28 } });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'avgk-predictor-'));
  const q = quiet();
  const code = await runCli(['train', '--dataset-config', DATA, '--model', 'cnn', '--k', '1.5', '2', '--epochs', '2', '--batch-size', '32', '--no-report', '--quiet', '--out', 'run'], q.io as never);
  expect(code, q.err()).toBe(0);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadPredictor', () => {
  it('predicts the same sets as avgk predict on the run\'s test split', async () => {
    const ckptPath = join(dir, 'run', 'checkpoint.safetensors');
    const p = await loadPredictor(ckptPath);
    expect(p.ks).toEqual([1.5, 2]);
    expect(p.classNames).toHaveLength(4);
    expect(p.preprocessing.sampleShape).toEqual([1, 28, 28]);
    expect(p.preprocessing.normalize).not.toBeNull();
    const ckpt = await readTrainingCheckpoint(ckptPath);
    const ds = loadDataset(runSpecOf(ckpt.meta.config)!.dataset as unknown as Record<string, unknown>);
    const pred = p.predictSets(new Tensor(ds.test.x, [ds.test.n, 1, 28, 28]), { k: 2 });
    const q = quiet();
    expect(await runCli(['predict', '--checkpoint', 'run/checkpoint.safetensors', '--split', 'test', '--k', '2'], q.io as never)).toBe(0);
    const lines = q.out().trim().split('\n').map((l) => JSON.parse(l) as { index: number; label: number; labels: number[]; scores: number[] });
    expect(lines.map((l) => l.labels)).toEqual(pred.sets);
    expect(lines.map((l) => l.index)).toEqual(lines.map((_, i) => i));
    expect(lines.map((l) => l.label)).toEqual(Array.from(ds.test.y));
    lines.forEach((l, i) => l.scores.forEach((s, j) => expect(s).toBeCloseTo(pred.setScores[i]![j]!, 4)));
    // mean set size near K on test (calibrated on validation)
    const mean = pred.sets.reduce((s, x) => s + x.length, 0) / pred.sets.length;
    expect(mean).toBeGreaterThan(1.4);
    expect(mean).toBeLessThan(2.6);
    // the same sets as avgk eval scores (its own path: the run rebuilt, scored and thresholded)
    const qe = quiet();
    expect(await runCli(['eval', '--checkpoint', 'run/checkpoint.safetensors', '--k', '2', '--json'], qe.io as never)).toBe(0);
    const row = (JSON.parse(qe.out()) as { rows: { method: string; avgKAccuracy: number; meanSetSize: number }[] }).rows[0]!;
    const hits = pred.sets.filter((set, i) => set.includes(ds.test.y[i]!)).length;
    expect(hits / ds.test.n).toBe(row.avgKAccuracy);
    expect(mean).toBe(row.meanSetSize);
    expect(() => p.predictSets(ds.test.x, { k: 3 })).toThrow(/K = 3 was not calibrated for this model \(calibrated: 1\.5, 2\)/);
  });

  it('preprocesses raw inputs with the stored statistics (no training data needed)', async () => {
    const p = await loadPredictor(join(dir, 'run', 'checkpoint.safetensors'));
    const { mean, std } = p.preprocessing.normalize!;
    // raw pixels in [0, 1] → the normalised tensor gives the same sets
    const raw = new Float32Array(3 * 784).map((_, i) => ((i * 37) % 100) / 100);
    const normalised = raw.map((v) => (v - mean[0]!) / std[0]!);
    expect(p.predictSets(raw, { k: 1.5 }).sets).toEqual(p.predictSets(new Tensor(normalised, [3, 1, 28, 28]), { k: 1.5 }).sets);
    const u8 = Uint8Array.from(raw, (v) => Math.round(v * 255));
    expect(p.predictSets(u8, { k: 1.5 }).sets).toHaveLength(3);
    expect(() => p.predictSets(new Float32Array(785))).toThrow(/785 values are not a whole number of samples of shape \[1, 28, 28\]/);
    const bad = new Float32Array(784);
    bad[10] = NaN;
    expect(() => p.predictSets(bad)).toThrow(/value NaN at index 10 \(sample 0\) is not finite/);
  });

  it('avgk predict --input writes JSONL or CSV with labels, scores and the input order', async () => {
    const images = new Uint8Array(5 * 784).map((_, i) => (i * 13) % 256);
    writeFileSync(join(dir, 'in.idx'), encodeIdx({ dtype: 'uint8', shape: [5, 28, 28], data: images }));
    writeFileSync(join(dir, 'y.idx'), encodeIdx({ dtype: 'uint8', shape: [5], data: Uint8Array.from([0, 1, 2, 3, 0]) }));
    const q = quiet();
    expect(await runCli(['predict', '--checkpoint', 'run/checkpoint.safetensors', '--input', 'in.idx', '--labels', 'y.idx', '--out', 'sets.csv'], q.io as never), q.err()).toBe(0);
    const csv = readFileSync(join(dir, 'sets.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('index,label,label_name,size,labels,names,scores');
    expect(csv).toHaveLength(6);
    expect(csv[2]).toMatch(/^1,1,[^,]+,\d+,[\d;]+,[^,]*,[-\d.;e]+$/);
    const p = await loadPredictor(join(dir, 'run', 'checkpoint.safetensors'));
    const want = p.predictSets(images, { k: 1.5 });
    const q2 = quiet();
    expect(await runCli(['predict', '--checkpoint', 'run/checkpoint.safetensors', '--input', 'in.idx', '--format', 'jsonl'], q2.io as never)).toBe(0);
    const rows = q2.out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r.labels)).toEqual(want.sets);
    expect(rows[0]).not.toHaveProperty('label');
    const q3 = quiet();
    expect(await runCli(['predict', '--checkpoint', 'run/checkpoint.safetensors', '--labels', 'y.idx'], q3.io as never)).toBe(2);
    expect(q3.err()).toMatch(/--labels is only used with --input/);
  });
});
