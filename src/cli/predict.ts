/**
 * `avgk predict`: label sets for a split of the run's dataset or for an input file, one JSON
 * object per line: {"index":0,"labels":[3,5],"names":["Dress","Coat"]}.
 */
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import type { Dataset, Split, SplitName } from '../data/index.js';
import { readIdx } from '../data/idx.js';
import { readCifarBinary } from '../data/cifar.js';
import { channelLayout } from '../data/transforms.js';
import { predictSets } from '../avgk/calibrate.js';
import { scoreSplit } from '../train/evaluate.js';
import { bestWeights, loadWeights } from '../train/checkpointing.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { CliContext } from './context.js';
import { addBackendOptions, addOutputOptions, applyBackendOptions, applyOutputOptions, checkOutputFile, shownPath } from './common.js';
import { checkKs, choiceParser, parseNumber } from './options.js';
import { buildRunCli, calibrationsFor, loadCheckpointCli, loadDatasetCli, scoreHeads } from './runtime.js';
import { SPLIT_NAMES } from './eval.js';

interface PredictOptions {
  checkpoint: string;
  split?: SplitName;
  input?: string;
  out?: string;
  k?: number;
  backend?: 'js' | 'native';
  device?: 'cpu' | 'cuda';
  threads?: number;
  quiet?: boolean;
  verbose?: boolean;
}

export function registerPredict(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('predict')
    .description('predict label sets (JSON lines) for a split or an input file')
    .requiredOption('--checkpoint <file>', 'checkpoint written by avgk train')
    .addOption(new Option('--split <split>', 'split of the run\'s dataset: test, val or train (default: test)').argParser(choiceParser('split', SPLIT_NAMES)).conflicts('input'))
    .option('--input <file>', 'images to classify: IDX (e.g. t10k-images-idx3-ubyte, uint8 or float32) or CIFAR .bin')
    .option('--out <file>', 'write the JSON lines to this file (atomically) instead of stdout')
    .option('--k <K>', "average set size K (default: the run's first K)", parseNumber);
  addBackendOptions(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText('after', '\nOutput: one line per sample, e.g. {"index":0,"labels":[3,5],"names":["Dress","Coat"]}.');
  cmd.action(async (opts: PredictOptions) => {
    applyOutputOptions(ctx, opts);
    ctx.exitCode = await runPredict(ctx, opts);
  });
  return cmd;
}

/** Read an input file into a split shaped like the dataset's samples (pixels scaled and normalised like training). */
function readInput(ctx: CliContext, file: string, ds: Dataset, datasetName: string): Split {
  const path = ctx.resolvePath(file);
  const d = ds.sampleShape.reduce((a, b) => a * b, 1);
  let x: Float32Array;
  let n: number;
  try {
    if (extname(path).toLowerCase() === '.bin') {
      if (datasetName !== 'cifar10' && datasetName !== 'cifar100') throw new Error(`CIFAR .bin input needs a model trained on cifar10 or cifar100, this one was trained on ${datasetName}`);
      const rec = readCifarBinary(path, { labelBytes: datasetName === 'cifar10' ? 1 : 2 });
      n = rec.n;
      x = Float32Array.from(rec.pixels, (v) => v / 255);
      if (d !== 3072) throw new Error(`the model expects samples of shape [${ds.sampleShape.join(', ')}]`);
    } else {
      const arr = readIdx(path);
      if (arr.shape.length < 2) throw new Error(`IDX array of shape [${arr.shape.join(', ')}] is not a list of samples`);
      n = arr.shape[0];
      const per = arr.shape.slice(1).reduce((a, b) => a * b, 1);
      if (per !== d) throw new Error(`samples of shape [${arr.shape.slice(1).join(', ')}] do not match the model's input [${ds.sampleShape.join(', ')}]`);
      if (arr.dtype === 'uint8') x = Float32Array.from(arr.data as Uint8Array, (v) => v / 255);
      else if (arr.dtype === 'float32' || arr.dtype === 'float64') x = Float32Array.from(arr.data as Float32Array);
      else throw new Error(`IDX dtype ${arr.dtype} is not supported (expected uint8 images or float32)`);
    }
  } catch (e) {
    throw ctx.usageError(`--input ${file}: ${(e as Error).message.replace(path, file)}`, e);
  }
  if (n === 0) throw ctx.usageError(`--input ${file}: no samples`);
  // the training pipeline's normalisation, if any
  const transforms = Array.isArray(ds.meta.transforms) ? (ds.meta.transforms as { type?: string; mean?: number[]; std?: number[] }[]) : [];
  const norm = transforms.find((t) => t.type === 'normalize');
  if (norm?.mean && norm.std) {
    const { channels, inner } = channelLayout(ds.sampleShape);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < channels; c++) {
        const m = norm.mean[c] ?? norm.mean[0];
        const s = norm.std[c] ?? norm.std[0];
        const at = i * d + c * inner;
        for (let j = 0; j < inner; j++) x[at + j] = (x[at + j] - m) / s;
      }
    }
  }
  return { x, y: new Int32Array(n), n };
}

async function runPredict(ctx: CliContext, o: PredictOptions): Promise<number> {
  const ckpt = await loadCheckpointCli(ctx, o.checkpoint);
  const outPath = o.out !== undefined ? ctx.resolvePath(o.out) : null;
  if (outPath) checkOutputFile(ctx, outPath, o.out!);
  const device = applyBackendOptions(ctx, o);
  const config = ckpt.config;
  const ds = loadDatasetCli(ctx, config.dataset);
  const k = o.k ?? config.ks[0];
  const kErr = checkKs([k], ds.numClasses, ds.name);
  if (kErr) throw ctx.usageError(kErr);
  const split: Split = o.input !== undefined ? readInput(ctx, o.input, ds, String(config.dataset.name)) : ds[o.split ?? 'test'];
  if (split.n === 0) throw ctx.usageError(`--split ${o.split}: the split is empty`);
  const { model, method } = buildRunCli(ctx, config, ds);
  try {
    loadWeights(ckpt, model, bestWeights(ckpt));
  } catch (e) {
    throw ctx.usageError((e as Error).message.replace(ckpt.path, o.checkpoint), e);
  }
  model.to(device);
  const cal = calibrationsFor([k], ds.numClasses, config.seed, ckpt.meta.calibrations, () => scoreHeads(model, method, ds.val, ds)).method![0];
  const scores = scoreSplit(model, method, split, ds.sampleShape);
  const sets = predictSets(scores, split.n, ds.numClasses, cal);
  const names = ckpt.meta.classNames;
  const lines: string[] = [];
  const C = ds.numClasses;
  for (let i = 0; i < split.n; i++) {
    const labels: number[] = [];
    for (let j = 0; j < C; j++) if (sets.mask[i * C + j]) labels.push(j);
    lines.push(JSON.stringify({ index: i, labels, names: labels.map((j) => names[j] ?? String(j)) }));
  }
  const text = lines.length ? lines.join('\n') + '\n' : '';
  if (outPath) {
    try {
      await writeFileAtomic(outPath, text);
    } catch (e) {
      throw ctx.failure(`--out ${o.out}: cannot write (${(e as Error).message})`, e);
    }
    let total = 0;
    for (let i = 0; i < split.n; i++) total += sets.sizes[i];
    ctx.info(`wrote ${split.n} label sets (K = ${k}, mean size ${(total / split.n).toFixed(3)}) to ${shownPath(ctx, outPath)}`);
  } else {
    ctx.io.stdout.write(text);
  }
  return 0;
}
