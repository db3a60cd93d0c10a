#!/usr/bin/env node
// Per-class diagnosis of a two-head model on a long-tailed (noisy) setting: which classes the
// pseudo-labels make positive, each head's per-class accuracy and bias, and where each head's
// set-size budget goes on test. Trains one two-head model and one softmax model per seed.
//
//   npm run build
//   node experiments/diagnose-longtail.mjs experiments/fmnist-longtail-noisy.json [--seeds 0,1,2] [--k 2] [--json out.json] [--refit E]
//
// --refit E: afterwards, train only the multi-label head for E more epochs (μ = 1, backbone and
// softmax head frozen) on the same pseudo-labels: does a fully trained head close the gap?
//
// The config is a compare config; its dataset, model, epochs, batch size, optimiser and
// two-head options are used. Prints one markdown table per seed and K and a summary.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as avgk from '../dist/src/index.js';
import { validateCompareConfig } from '../dist/src/train/config.js';
import { buildRun, fitOptions, makeOptimizer, makeSchedule } from '../dist/src/train/pipeline.js';
import { createMethod } from '../dist/src/avgk/losses.js';
import { calibrateAll, evaluateScores, scoreSplit } from '../dist/src/train/evaluate.js';
import { pseudoLabels } from '../dist/src/avgk/pseudo-labels.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seeds: { type: 'string', default: '0' }, refit: { type: 'string', default: '0' }, k: { type: 'string' }, json: { type: 'string' }, threads: { type: 'string', default: '1' } },
});
if (positionals.length !== 1) {
  console.error('usage: node experiments/diagnose-longtail.mjs <compare config.json> [--seeds 0,1,2] [--k 2] [--json out.json]');
  process.exit(2);
}
const config = validateCompareConfig(JSON.parse(readFileSync(positionals[0], 'utf8').replace(/^\uFEFF/, '')));
avgk.setNumThreads(Number(values.threads));
const seeds = values.seeds.split(',').map(Number);
const ks = values.k ? values.k.split(',').map(Number) : config.ks;
const twoHead = config.methods.find((m) => m.name === 'two-head') ?? { name: 'two-head', options: {}, label: 'two-head' };
const softmax = config.methods.find((m) => m.name === 'softmax') ?? { name: 'softmax', options: {}, label: 'softmax' };
const pct = (v) => (v === null || Number.isNaN(v) ? '–' : (100 * v).toFixed(1));
const results = [];

for (const seed of seeds) {
  const ds = avgk.loadDataset({ ...config.dataset, seed: config.dataset.seed ?? 0 });
  const c = ds.numClasses;
  const counts = Array.from(ds.classCounts);
  const train = (method, k) => {
    const spec = {
      dataset: config.dataset, model: config.model, method, ks: [k], seed, epochs: config.epochs, batchSize: config.batchSize,
      optimizer: method.optimizer ?? config.optimizer, schedule: config.schedule, augment: config.augment ?? false,
    };
    const run = buildRun(spec, ds);
    avgk.fit(run.model, run.method, run.optimizer, ds, fitOptions(spec, run.schedule));
    return run.model;
  };
  const headEval = (model, head, k) => {
    const m = { scoreHead: head };
    const [cal] = calibrateAll(scoreSplit(model, m, ds.val, ds.sampleShape), c, [k]);
    const test = scoreSplit(model, m, ds.test, ds.sampleShape);
    const e = evaluateScores(test, ds.test.y, c, cal, ds.classCounts);
    const sets = avgk.predictSets(test, ds.test.n, c, cal);
    // share of all predicted labels that go to each class (where the set-size budget goes)
    const inSets = new Float64Array(c);
    for (let i = 0; i < ds.test.n; i++) for (let j = 0; j < c; j++) inSets[j] += sets.mask[i * c + j];
    const total = inSets.reduce((a, b) => a + b, 0);
    const w = head === 'softmax' ? model.softmaxHead : model.multilabelHead;
    return { acc: e.avgKAccuracy, few: e.buckets?.few ?? null, perClass: e.perClass.accuracy, budget: Array.from(inSets, (v) => v / total), bias: Array.from(w.bias.dataSync()) };
  };
  for (const k of ks) {
    const th = train({ ...twoHead, options: { ...twoHead.options } }, k);
    const sm = train(softmax, k);
    // pseudo-labels of the trained model on the training split, batch by batch in a fixed order
    const probs = scoreSplit(th, { scoreHead: 'softmax' }, ds.train, ds.sampleShape);
    const pos = new Float64Array(c);
    const b = config.batchSize;
    for (let s = 0; s + b <= ds.train.n; s += b) {
      const t = pseudoLabels(probs.subarray(s * c, (s + b) * c), ds.train.y.subarray(s, s + b), b, c, k, twoHead.options.variant ?? 'true-plus-topk');
      for (let i = 0; i < t.length; i++) pos[i % c] += t[i];
    }
    const posTotal = pos.reduce((a, x) => a + x, 0);
    const thSoftmax = headEval(th, 'softmax', k);
    const thMultilabel = headEval(th, 'multilabel', k);
    let refit = null;
    const refitEpochs = Number(values.refit);
    if (refitEpochs > 0) {
      const spec = { optimizer: twoHead.optimizer ?? config.optimizer, schedule: config.schedule, epochs: refitEpochs };
      const method = createMethod('two-head', { ...twoHead.options, mu: 1, warmup: 0, muRamp: 0, k, numClasses: c, numTrain: ds.train.n, rng: new avgk.Rng(seed) });
      const opt = makeOptimizer(spec, [...th.multilabelHead.parameters()]);
      avgk.fit(th, method, opt, ds, { epochs: refitEpochs, batchSize: config.batchSize, ks: [k], seed: seed + 1000, schedule: makeSchedule(spec) });
      refit = headEval(th, 'multilabel', k);
    }
    const r = {
      refit,
      seed, k, counts,
      pseudoShare: Array.from(pos, (v) => v / posTotal),
      pseudoPerSample: Array.from(pos, (v, j) => v / Math.max(1, counts[j])),
      softmax: headEval(sm, 'softmax', k),
      twoHeadSoftmax: thSoftmax,
      twoHeadMultilabel: thMultilabel,
    };
    results.push(r);
    console.log(`\n## seed ${seed}, K = ${k}: test avg-K accuracy softmax ${pct(r.softmax.acc)}, two-head ${pct(r.twoHeadMultilabel.acc)} (its softmax head ${pct(r.twoHeadSoftmax.acc)}); few-shot classes ${pct(r.softmax.few)} / ${pct(r.twoHeadMultilabel.few)} / ${pct(r.twoHeadSoftmax.few)}` +
      (refit ? `; multi-label head refit ${refitEpochs} epochs on frozen features: ${pct(refit.acc)}, few-shot ${pct(refit.few)}` : '') + '\n');
    console.log('| class | train count | pseudo-positive share % | positives per train sample | acc softmax | acc two-head ML | acc two-head SM | budget % softmax | budget % two-head ML | ML bias |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const order = counts.map((_, j) => j).sort((a, b2) => counts[b2] - counts[a]);
    for (const j of order) {
      console.log(`| ${ds.classNames[j] ?? j} | ${counts[j]} | ${pct(r.pseudoShare[j])} | ${r.pseudoPerSample[j].toFixed(2)} | ${pct(r.softmax.perClass[j])} | ${pct(r.twoHeadMultilabel.perClass[j])} | ${pct(r.twoHeadSoftmax.perClass[j])} | ${pct(r.softmax.budget[j])} | ${pct(r.twoHeadMultilabel.budget[j])} | ${r.twoHeadMultilabel.bias[j].toFixed(2)} |`);
    }
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 1));
