/**
 * `avgk predict`: label sets for a split of the run's dataset or for an input file, through the
 * Predictor (src/train/predictor.ts): with --input the run's training data are not loaded.
 */
import { totalmem } from 'node:os';
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import type { SplitName } from '../data/index.js';
import { IDX_DTYPE_BYTES, readIdx, readIdxHeader } from '../data/idx.js';
import { readCifarBinary } from '../data/cifar.js';
import { Tensor } from '../tensor/tensor.js';
import { predictorFromCheckpoint, preprocessingOf, type Predictor } from '../train/predictor.js';
import { bestWeights, loadWeights } from '../train/checkpointing.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { CliContext } from './context.js';
import { addBackendOptions, addOutputOptions, applyBackendOptions, applyOutputOptions, checkOutputFile, isOwnStdout, shownPath } from './common.js';
import { checkKs, choiceParser, parseNumber } from './options.js';
import { buildRunCli, evaluateForCli, loadCheckpointCli, loadDatasetCli } from './runtime.js';
import { SPLIT_NAMES } from './eval.js';

interface PredictOptions {
  checkpoint: string;
  split?: SplitName;
  input?: string;
  labels?: string;
  out?: string;
  format?: 'jsonl' | 'csv';
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
    .description('predict label sets for a split of the run\'s dataset or for an input file (JSON lines or CSV)')
    .requiredOption('--checkpoint <file>', 'checkpoint written by avgk train')
    .addOption(new Option('--split <split>', 'split of the run\'s dataset: test, val or train (default: test)').argParser(choiceParser('split', SPLIT_NAMES)).conflicts('input'))
    .option('--input <file>', 'samples to classify: IDX (e.g. t10k-images-idx3-ubyte, uint8 or float32) or CIFAR .bin; the run\'s training data are not loaded')
    .option('--labels <file>', 'IDX file of the true labels of --input, added to the output')
    .option('--out <file>', 'write to this file (atomically) instead of stdout')
    .addOption(new Option('--format <format>', 'jsonl or csv (default: from --out\'s extension, else jsonl)').argParser(choiceParser('format', ['jsonl', 'csv'] as const)))
    .option('--k <K>', "average set size K (default: the run's first K)", parseNumber);
  addBackendOptions(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Output: one record per sample, in the input's order:
  index       position in the input file (or split)
  label       the true label when known (--split, CIFAR .bin, --labels), and label_name
  labels      the predicted set (ascending), names its class names
  scores      the score of each label of the set (log-softmax or multi-label logit)
JSON lines: {"index":0,"label":3,"label_name":"Dress","labels":[3,5],"names":["Dress","Coat"],"scores":[-0.21,-1.9]}`,
  );
  cmd.action(async (opts: PredictOptions) => {
    applyOutputOptions(ctx, opts);
    ctx.exitCode = await runPredict(ctx, opts);
  });
  return cmd;
}

/** The samples of an input file (raw: uint8 pixels or floats as stored) and their labels when the file has them. */
function readInput(ctx: CliContext, file: string, sampleShape: readonly number[], datasetName: string, coarse: boolean): { raw: Uint8Array | Float32Array; n: number; labels: Int32Array | null } {
  const path = ctx.resolvePath(file);
  const d = sampleShape.reduce((a, b) => a * b, 1);
  try {
    if (extname(path).toLowerCase() === '.bin') {
      if (datasetName !== 'cifar10' && datasetName !== 'cifar100') throw new Error(`CIFAR .bin input needs a model trained on cifar10 or cifar100, this one was trained on ${datasetName}`);
      if (d !== 3072) throw new Error(`the model expects samples of shape [${sampleShape.join(', ')}]`);
      const rec = readCifarBinary(path, { labelBytes: datasetName === 'cifar10' ? 1 : 2 });
      const y = coarse && rec.coarse ? rec.coarse : (rec.fine ?? rec.labels);
      return { raw: rec.pixels, n: rec.n, labels: Int32Array.from(y) };
    }
    // refuse an input too large to predict before reading it: its bytes (file and decoded)
    // and two float32 copies (converted and standardised) are held at once
    const head = readIdxHeader(path);
    if (head && head.shape.length >= 2) {
      const need = head.shape.reduce((a, b) => a * b, 1) * (2 * IDX_DTYPE_BYTES[head.dtype] + 8);
      if (need > totalmem()) {
        throw new Error(`header [${head.shape.join(', ')}] ${head.dtype}: predicting ${head.shape[0]} samples needs about ${(need / 1e9).toPrecision(3)} GB, more than this machine's ${(totalmem() / 1e9).toPrecision(3)} GB (split the input)`);
      }
    }
    const arr = readIdx(path);
    if (arr.shape.length < 2) throw new Error(`IDX array of shape [${arr.shape.join(', ')}] is not a list of samples`);
    const per = arr.shape.slice(1).reduce((a, b) => a * b, 1);
    if (per !== d) throw new Error(`samples of shape [${arr.shape.slice(1).join(', ')}] do not match the model's input [${sampleShape.join(', ')}]`);
    if (arr.dtype === 'uint8') return { raw: arr.data as Uint8Array, n: arr.shape[0]!, labels: null };
    if (arr.dtype === 'float32' || arr.dtype === 'float64') {
      const raw = Float32Array.from(arr.data as Float32Array);
      // NaN, ±Infinity and float64 values beyond float32 would poison every score of their sample
      const bad = raw.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`value ${arr.data[bad]} at index ${bad} (sample ${Math.floor(bad / per)}, element ${bad % per}) is not a finite float32`);
      return { raw, n: arr.shape[0]!, labels: null };
    }
    throw new Error(`IDX dtype ${arr.dtype} is not supported (expected uint8 images or float32)`);
  } catch (e) {
    throw ctx.usageError(`--input ${file}: ${(e as Error).message.replace(path, file)}`, e);
  }
}

function readLabels(ctx: CliContext, file: string, n: number, numClasses: number): Int32Array {
  const path = ctx.resolvePath(file);
  try {
    const arr = readIdx(path);
    if (arr.shape.length !== 1 || arr.shape[0] !== n) throw new Error(`expected ${n} labels, got an array of shape [${arr.shape.join(', ')}]`);
    const y = Int32Array.from(arr.data as ArrayLike<number>);
    const bad = y.findIndex((v) => !(v >= 0 && v < numClasses));
    if (bad >= 0) throw new Error(`label ${y[bad]} at index ${bad} is outside [0, ${numClasses})`);
    return y;
  } catch (e) {
    throw ctx.usageError(`--labels ${file}: ${(e as Error).message.replace(path, file)}`, e);
  }
}

/** RFC 4180 field. */
function csvField(v: string | number): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function round(v: number): number {
  return Number(v.toPrecision(6));
}

async function runPredict(ctx: CliContext, o: PredictOptions): Promise<number> {
  const ckpt = await loadCheckpointCli(ctx, o.checkpoint);
  // --out /dev/stdout is stdout
  const outPath = o.out !== undefined && !isOwnStdout(ctx, ctx.resolvePath(o.out)) ? ctx.resolvePath(o.out) : null;
  if (outPath) checkOutputFile(ctx, outPath, o.out!);
  if (o.labels !== undefined && o.input === undefined) throw ctx.usageError('--labels is only used with --input');
  const format = o.format ?? (outPath && extname(outPath).toLowerCase() === '.csv' ? 'csv' : 'jsonl');
  const device = applyBackendOptions(ctx, o);
  const config = ckpt.config;
  const names = ckpt.meta.classNames;
  const C = names.length;
  const k = o.k ?? config.ks[0]!;
  const kErr = checkKs([k], C, String(config.dataset.name));
  if (kErr) throw ctx.usageError(kErr);
  const stored = ckpt.meta.calibrations.method?.find((c) => c.k === k);
  const hasPre = typeof ckpt.meta.preprocessing === 'object' && ckpt.meta.preprocessing !== null;
  // the run's dataset is loaded only to predict one of its splits, or to calibrate a new K, or for
  // checkpoints that predate the stored preprocessing
  const ds = o.input === undefined || !stored || !hasPre ? loadDatasetCli(ctx, config.dataset) : null;
  let predictor: Predictor;
  try {
    let cals = stored ? [stored] : null;
    if (!cals) {
      // calibrate K on the run's validation split, with the same model
      const { model, method } = buildRunCli(ctx, config, ds!);
      loadWeights(ckpt, model, bestWeights(ckpt));
      model.to(device);
      cals = evaluateForCli(model, method, config, ds!, 'val', { ks: [k] }).calibrations.method!;
    }
    predictor = predictorFromCheckpoint(ckpt, { preprocessing: ds ? preprocessingOf(ds) : undefined, calibrations: cals });
  } catch (e) {
    throw ctx.usageError((e as Error).message.replace(ckpt.path, o.checkpoint), e);
  }
  predictor.to(device);
  let pred;
  let truth: Int32Array | null;
  if (o.input !== undefined) {
    const input = readInput(ctx, o.input, predictor.preprocessing.sampleShape, String(config.dataset.name), (config.dataset as { label?: string }).label === 'coarse');
    if (input.n === 0) throw ctx.usageError(`--input ${o.input}: no samples`);
    truth = o.labels !== undefined ? readLabels(ctx, o.labels, input.n, C) : input.labels;
    try {
      pred = predictor.predictSets(input.raw, { k });
    } catch (e) {
      throw ctx.usageError(`--input ${o.input}: ${(e as Error).message.replace(/^Predictor\.\w+: /, '')}`, e);
    }
  } else {
    const split = ds![o.split ?? 'test'];
    if (split.n === 0) throw ctx.usageError(`--split ${o.split}: the split is empty`);
    truth = split.y;
    pred = predictor.predictSets(new Tensor(split.x, [split.n, ...ds!.sampleShape]), { k });
  }
  const n = pred.sets.length;
  const lines: string[] = [];
  if (format === 'csv') lines.push(['index', 'label', 'label_name', 'size', 'labels', 'names', 'scores'].join(','));
  for (let i = 0; i < n; i++) {
    const y = truth ? truth[i]! : null;
    const scores = pred.setScores[i]!.map(round);
    if (format === 'csv') {
      lines.push([i, y ?? '', y === null ? '' : csvField(names[y] ?? String(y)), pred.sets[i]!.length, pred.sets[i]!.join(';'), csvField(pred.names[i]!.join(';')), scores.join(';')].join(','));
    } else {
      const rec: Record<string, unknown> = { index: i };
      if (y !== null) Object.assign(rec, { label: y, label_name: names[y] ?? String(y) });
      Object.assign(rec, { labels: pred.sets[i], names: pred.names[i], scores });
      lines.push(JSON.stringify(rec));
    }
  }
  const text = lines.length ? lines.join('\n') + '\n' : '';
  if (outPath) {
    try {
      await writeFileAtomic(outPath, text);
    } catch (e) {
      throw ctx.failure(`--out ${o.out}: cannot write (${(e as Error).message})`, e);
    }
    const total = pred.sets.reduce((s, x) => s + x.length, 0);
    ctx.info(`wrote ${n} label sets (K = ${k}, mean size ${(total / n).toFixed(3)}) to ${shownPath(ctx, outPath)}`);
  } else {
    ctx.io.stdout.write(text);
  }
  return 0;
}
