/**
 * `avgk train`: train a model, print the test results, write a checkpoint and a report.
 *
 * K values: `--k 1.5 2 3`. K-independent methods (softmax, an, wan, an-ls) train one model and are
 * evaluated at every K. K-dependent methods (two-head, epr, role) train ONE model for the first K
 * (the "training K") and are evaluated at every K with that model (calibration adapts the
 * threshold; the pseudo-labels / regulariser used the training K). Train separate runs for
 * other training K.
 *
 * Ctrl-C: training yields to the event loop between steps (fitAsync); the first Ctrl-C finishes the
 * current step, writes a resumable checkpoint and exits with code 130 (SIGTERM: 143, SIGHUP: 129).
 *
 * The output directory is locked for the run (src/io/lock.ts): a second run writing there is an
 * error naming the pid of the first.
 */
import { mkdirSync, rmSync, existsSync, readdirSync } from 'node:fs';
import type { DirLock } from '../io/lock.js';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DATASET_NAMES, SYNTHETIC_DEFAULTS } from '../data/index.js';
import { MODEL_NAMES } from '../avgk/model.js';
import { METHOD_NAMES, METHODS, methodDef, optionError } from '../avgk/methods/index.js';
import { trainK, type RunSpec } from '../train/spec.js';
import { fitOptions } from '../train/pipeline.js';
import { preprocessingOf } from '../train/predictor.js';
import type { Calibration } from '../avgk/calibrate.js';
import { fitAsync, initialTrainState, type TrainState, type FitResult } from '../train/fit.js';
import { restoreTraining, saveTrainingCheckpoint, type StateDict } from '../train/checkpointing.js';
import { backendName } from '../backend/index.js';
import { signalExitCode, signalName, type CliContext, type StopSignal } from './context.js';
import { choiceParser, intParser, kListParser, nonNegativeNumber, positiveNumber, intListParser, checkKs, uniqueKs, parseNumber } from './options.js';
import {
  addBackendOptions,
  addOutputOptions,
  applyBackendOptions,
  applyOutputOptions,
  checkRunDirectoryFree,
  holdsRun,
  lockRunDirectory,
  readJsonArg,
  requireChartLibs,
  shownPath,
} from './common.js';
import {
  OPTIMIZER_NAMES,
  SCHEDULE_NAMES,
  TRAIN_DEFAULTS,
  buildRunCli,
  checkDatasetSpec,
  checkRunConfig,
  evaluateForCli,
  formatResults,
  loadCheckpointCli,
  loadDatasetCli,
  methodLabel,
  BASELINE_LABEL,
  resultsJson,
  type RunConfig,
} from './runtime.js';
import { TrainProgress } from './progress.js';
import { accuracyVsK, writeRunReport } from './run-report.js';
import { plural, wrapParts } from './text.js';

export interface TrainOptions {
  dataset?: string;
  datasetConfig?: string;
  dataDir?: string;
  loss?: string;
  k?: number[];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  optimizer?: (typeof OPTIMIZER_NAMES)[number];
  schedule?: (typeof SCHEDULE_NAMES)[number];
  seed?: number;
  /** Method options (see METHOD_OPTION_FLAGS), e.g. mu for two-head. */
  [methodOption: string]: unknown;
  model?: (typeof MODEL_NAMES)[number];
  hidden?: number[];
  augment?: boolean;
  limit?: number;
  valSize?: number;
  normalize?: boolean;
  threads?: number;
  backend?: 'js' | 'native';
  device?: 'cpu' | 'cuda';
  out?: string;
  resume?: string;
  report?: boolean;
  force?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

/**
 * One flag per method option of the registry (--mu, --w-pos, --smoothing, ...): its help names the
 * methods that have it, with their defaults.
 */
const METHOD_OPTION_FLAGS: { key: string; flag: string; type: 'number' | 'enum'; doc: string }[] = (() => {
  const byKey = new Map<string, { type: 'number' | 'enum'; parts: string[] }>();
  for (const m of METHODS) {
    for (const [key, d] of Object.entries(m.options)) {
      const e = byKey.get(key) ?? { type: d.type, parts: [] };
      e.parts.push(`${m.name}: ${d.doc}${d.type === 'enum' ? ` (${d.choices.join(' | ')})` : ''} (default: ${d.default})`);
      byKey.set(key, e);
    }
  }
  return [...byKey].map(([key, e]) => ({ key, flag: `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, type: e.type, doc: e.parts.join('; ') }));
})();

/** Flags that define the run; they cannot change when resuming. */
const CONFIG_FLAGS: [keyof TrainOptions, string][] = [
  ['dataset', '--dataset'],
  ['datasetConfig', '--dataset-config'],
  ['dataDir', '--data-dir'],
  ['loss', '--loss'],
  ['k', '--k'],
  ['batchSize', '--batch-size'],
  ['lr', '--lr'],
  ['momentum', '--momentum'],
  ['weightDecay', '--weight-decay'],
  ['optimizer', '--optimizer'],
  ['schedule', '--schedule'],
  ...METHOD_OPTION_FLAGS.map((f): [keyof TrainOptions, string] => [f.key as keyof TrainOptions, f.flag]),
  ['seed', '--seed'],
  ['model', '--model'],
  ['hidden', '--hidden'],
  ['augment', '--augment'],
  ['limit', '--limit'],
  ['valSize', '--val-size'],
  ['normalize', '--normalize'],
];

export function registerTrain(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('train')
    .description('train a set-valued classifier, print test results, write a checkpoint and a report')
    .addOption(new Option('--dataset <name>', `dataset: ${DATASET_NAMES.join(', ')} (default: ${TRAIN_DEFAULTS.dataset})`).argParser(choiceParser('dataset', DATASET_NAMES)))
    .option('--dataset-config <json>', 'full dataset spec as JSON, @file or a .json path (e.g. \'{"name":"synthetic","numClasses":50,"zipfAlpha":1}\')')
    .option('--data-dir <dir>', 'directory of the CIFAR binary files (cifar10 / cifar100)')
    .addOption(new Option('--loss <method>', `training method: ${METHOD_NAMES.join(', ')} (default: ${TRAIN_DEFAULTS.method})`).argParser(choiceParser('loss', METHOD_NAMES)))
    .option('--k <K...>', 'average set size(s) K, e.g. --k 1.5 2 3; the first is the training K of two-head/epr/role (default: 2)', kListParser)
    .option('--epochs <n>', `epochs (default: ${TRAIN_DEFAULTS.epochs})`, intParser(1))
    .option('--batch-size <n>', `mini-batch size (default: ${TRAIN_DEFAULTS.batchSize})`, intParser(1))
    .option('--lr <lr>', `learning rate (default: ${TRAIN_DEFAULTS.lr})`, positiveNumber)
    .option('--momentum <m>', `SGD momentum, Nesterov (default: ${TRAIN_DEFAULTS.momentum})`, nonNegativeNumber)
    .option('--weight-decay <wd>', `weight decay (default: ${TRAIN_DEFAULTS.weightDecay})`, nonNegativeNumber)
    .addOption(new Option('--optimizer <name>', 'sgd (momentum, Nesterov) or adam (default: sgd)').argParser(choiceParser('optimizer', OPTIMIZER_NAMES)))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule: cosine or constant (default: cosine)').argParser(choiceParser('schedule', SCHEDULE_NAMES)))
    .option('--seed <n>', 'seed of the weights, the shuffling and the train/val split (default: 0)', intParser(0))
    .addOption(new Option('--model <name>', `backbone: ${MODEL_NAMES.join(', ')} (default: mlp [256, 256]; cnn is a small CNN, resnet18 for 32×32 images)`).argParser(choiceParser('model', MODEL_NAMES)))
    .option('--hidden <widths>', 'mlp hidden widths, e.g. 512,256 (default: 256,256)', intListParser)
    .option('--augment', 'random crop and flip (32×32 images)')
    .option('--limit <n>', 'use only the first N training images (synthetic: N training samples)', intParser(1))
    .option('--val-size <n>', 'size of the validation split', intParser(1))
    .option('--normalize', 'standardise inputs with the training split\'s mean/std (the default)')
    .option('--no-normalize', 'keep raw inputs (pixels in [0, 1])')
    .option('--out <dir>', 'output directory (default: runs/<timestamp>-<method>-<dataset>)')
    .option('--resume <checkpoint>', 'continue an interrupted (or finished, with a larger --epochs) run from its checkpoint')
    .option('--no-report', 'do not write report.html / summary.json / summary.md')
    .option('--force', 'write into an output directory that already holds a run');
  for (const f of METHOD_OPTION_FLAGS) {
    const opt = new Option(`${f.flag} <${f.type === 'number' ? 'x' : 'name'}>`, f.doc);
    cmd.addOption(f.type === 'number' ? opt.argParser(parseNumber) : opt);
  }
  addBackendOptions(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  avgk train                                     two-head, K=2, Fashion-MNIST, MLP (quick)
  avgk train --epochs 1 --limit 3000             a one-minute smoke run
  avgk train --model cnn --epochs 10             a small CNN (slower, more accurate)
  avgk train --loss softmax --k 1 1.5 2 3        one softmax model, evaluated at several K
  avgk train --dataset synthetic --k 2           synthetic data with a known Bayes optimum
  avgk train --resume runs/X/checkpoint.safetensors   continue after Ctrl-C

Methods (--loss):
${METHODS.map((m) => `  ${m.name.padEnd(10)} ${m.summary}${m.kIndependent ? '' : ' (trained for the first K)'}`).join('\n')}

Outputs (in --out): checkpoint.safetensors, report.html, summary.json, summary.md.
The results table is computed on the TEST split with thresholds calibrated on validation; for
two-head it also shows the softmax-threshold baseline of the same model (its softmax head).
K-dependent methods (two-head, epr, role) train one model for the first K and evaluate it at
every K.`,
  );
  cmd.action(async (opts: TrainOptions) => {
    applyOutputOptions(ctx, opts);
    ctx.exitCode = await runTrain(ctx, opts, cmd);
  });
  return cmd;
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Number of classes of a dataset spec when known without loading it. */
function staticNumClasses(spec: Record<string, unknown>): number | null {
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist':
    case 'cifar10':
      return 10;
    case 'cifar100':
      return spec.label === 'coarse' ? 20 : 100;
    case 'synthetic':
      return typeof spec.numClasses === 'number' ? spec.numClasses : SYNTHETIC_DEFAULTS.numClasses;
    default:
      return null;
  }
}

/** Build the run configuration from flags (not resuming). Validates everything that does not need data. */
function configFromFlags(ctx: CliContext, o: TrainOptions, cmdSource: (o: TrainOptions, key: keyof TrainOptions) => boolean): RunConfig {
  let spec: Record<string, unknown> = { name: o.dataset ?? TRAIN_DEFAULTS.dataset };
  if (o.datasetConfig !== undefined) {
    const extra = readJsonArg(ctx, '--dataset-config', o.datasetConfig);
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw ctx.usageError('--dataset-config: expected a JSON object');
    const e = extra as Record<string, unknown>;
    if (o.dataset !== undefined && e.name !== undefined && e.name !== o.dataset) {
      throw ctx.usageError(`--dataset ${o.dataset} and --dataset-config name "${String(e.name)}" disagree`);
    }
    spec = { ...spec, ...e };
  }
  const name = spec.name;
  const synthetic = name === 'synthetic';
  const seed = o.seed ?? TRAIN_DEFAULTS.seed;
  if (spec.seed === undefined) spec.seed = seed;
  if (o.limit !== undefined) spec[synthetic ? 'nTrain' : 'limit'] = o.limit;
  if (o.valSize !== undefined) spec[synthetic ? 'nVal' : 'valSize'] = o.valSize;
  if (spec.normalize === undefined || cmdSource(o, 'normalize')) spec.normalize = o.normalize !== false;
  if (o.dataDir !== undefined) {
    if (name !== 'cifar10' && name !== 'cifar100') throw ctx.usageError(`--data-dir is only used with --dataset cifar10 or cifar100`);
    spec.dir = ctx.resolvePath(o.dataDir);
  }
  if ((name === 'cifar10' || name === 'cifar100') && spec.dir === undefined) {
    throw ctx.usageError(`--dataset ${name} needs --data-dir DIR (the directory of the CIFAR binary files)`);
  }
  checkDatasetSpec(ctx, spec);
  const ks = uniqueKs(o.k ?? TRAIN_DEFAULTS.ks);
  // K against the number of classes, before loading anything when it is known statically
  const knownC = staticNumClasses(spec);
  if (knownC !== null) {
    const kErr = checkKs(ks, knownC, String(name));
    if (kErr) throw ctx.usageError(kErr);
  }
  const model = o.model ?? TRAIN_DEFAULTS.model;
  if (o.hidden && model !== 'mlp') throw ctx.usageError(`--hidden is only used with --model mlp`);
  const optimizer = o.optimizer ?? TRAIN_DEFAULTS.optimizer;
  const momentum = o.momentum ?? TRAIN_DEFAULTS.momentum;
  if (optimizer === 'sgd' && !(momentum < 1)) throw ctx.usageError(`--momentum must be in [0, 1), got ${momentum}`);
  // the method and its options, checked against the registry
  const methodName = (o.loss ?? TRAIN_DEFAULTS.method) as RunSpec['method']['name'];
  const def = methodDef(methodName);
  const options: Record<string, number | string> = {};
  for (const f of METHOD_OPTION_FLAGS) {
    const v = o[f.key];
    if (v === undefined) continue;
    const d = def.options[f.key];
    if (!d) throw ctx.usageError(`${f.flag} is an option of ${METHODS.filter((m) => f.key in m.options).map((m) => m.name).join(', ')}, not of ${methodName}`);
    const err = optionError(d, v);
    if (err) throw ctx.usageError(`${f.flag}: ${err}`);
    options[f.key] = v as number | string;
  }
  if (!def.kIndependent) {
    const minK = def.minK({ ...Object.fromEntries(Object.entries(def.options).map(([k, d]) => [k, d.default])), ...options });
    if (ks[0]! < minK) throw ctx.usageError(`--k: ${methodName} trains for the first K, which must be ≥ ${minK}, got ${ks[0]}`);
  }
  return {
    dataset: spec as unknown as RunSpec['dataset'],
    method: { name: methodName, options, label: methodName },
    ks,
    model: model === 'mlp' ? { name: model, hidden: o.hidden ?? [256, 256] } : { name: model },
    optimizer: { name: optimizer, lr: o.lr ?? TRAIN_DEFAULTS.lr, momentum, nesterov: momentum > 0, weightDecay: o.weightDecay ?? TRAIN_DEFAULTS.weightDecay },
    schedule: { name: o.schedule ?? TRAIN_DEFAULTS.schedule },
    epochs: o.epochs ?? TRAIN_DEFAULTS.epochs,
    batchSize: o.batchSize ?? TRAIN_DEFAULTS.batchSize,
    seed,
    augment: o.augment === true,
  };
}

export async function runTrain(ctx: CliContext, o: TrainOptions, cmd: Command): Promise<number> {
  const t0 = performance.now();
  // ---- 1. configuration (nothing is written before everything is validated) ----
  let config: RunConfig;
  let resumeCkpt: Awaited<ReturnType<typeof loadCheckpointCli>> | null = null;
  if (o.resume !== undefined) {
    for (const [key, flag] of CONFIG_FLAGS) {
      if (cmd.getOptionValueSource(String(key)) === 'cli') throw ctx.usageError(`${flag} cannot be given with --resume (the run's configuration comes from the checkpoint; only --epochs, --out and runtime flags may be given)`);
    }
    resumeCkpt = await loadCheckpointCli(ctx, o.resume);
    config = { ...resumeCkpt.config };
    const done = resumeCkpt.meta.trainState.epoch;
    const started = done + (resumeCkpt.meta.trainState.batch > 0 ? 1 : 0);
    if (o.epochs !== undefined) {
      if (o.epochs < started) throw ctx.usageError(`--epochs ${o.epochs}: the checkpoint has already trained ${plural(done, 'epoch')}${started > done ? ' and started the next' : ''}`);
      config.epochs = o.epochs;
    }
    if (resumeCkpt.meta.status === 'complete' && done >= config.epochs) {
      throw ctx.usageError(`--resume ${o.resume}: the run is complete (${plural(done, 'epoch')}); pass --epochs N with N > ${done} to train more`);
    }
  } else {
    config = configFromFlags(ctx, o, (_o, key) => cmd.getOptionValueSource(String(key)) === 'cli');
    checkRunConfig(ctx, config);
  }
  const device = applyBackendOptions(ctx, o);
  if (o.report !== false) await requireChartLibs(ctx);

  // ---- 2. output directory (checked, not yet created) ----
  const cwd = ctx.io.cwd ?? process.cwd();
  let outDir: string;
  if (o.out !== undefined) outDir = ctx.resolvePath(o.out);
  else if (resumeCkpt) outDir = dirname(resumeCkpt.path);
  else {
    const base = join(cwd, 'runs', `${timestamp()}-${config.method.name}-${String(config.dataset.name)}`);
    outDir = base;
    for (let i = 2; existsSync(outDir); i++) outDir = `${base}-${i}`;
  }
  let outShown = shownPath(ctx, outDir);
  const sameRun = resumeCkpt !== null && resolve(dirname(resumeCkpt.path)) === resolve(outDir);
  const checkNotARun = (): void => {
    if (!sameRun && holdsRun(ctx, outDir, outShown) && !o.force) {
      throw ctx.usageError(`--out ${outShown}: the directory already holds a run (pass --force to overwrite it, or choose another --out)`);
    }
  };
  checkNotARun();
  checkRunDirectoryFree(ctx, outDir, outShown);

  // ---- 3. data, model, method, optimiser ----
  const ds = loadDatasetCli(ctx, config.dataset);
  const kErr = checkKs(config.ks, ds.numClasses, ds.name);
  if (kErr) throw ctx.usageError(kErr);
  if (config.batchSize > ds.train.n) ctx.info(`note: --batch-size ${config.batchSize} is larger than the training split (${ds.train.n}); one batch per epoch`);
  const { model, method, optimizer, schedule } = buildRunCli(ctx, config, ds);
  let state: TrainState = initialTrainState();
  if (resumeCkpt) {
    try {
      state = restoreTraining(resumeCkpt, { model, optimizer, method });
    } catch (e) {
      throw ctx.usageError((e as Error).message.replace(resumeCkpt.path, o.resume!), e);
    }
  }
  const batches = Math.ceil(ds.train.n / config.batchSize);
  ctx.info(
    wrapParts([
      `avgk train: ${config.method.name} on ${ds.name}`,
      plural(ds.numClasses, 'class', 'classes'),
      `train ${ds.train.n} / val ${ds.val.n} / test ${ds.test.n}`,
      `${config.model.name}${config.model.hidden ? ` [${config.model.hidden.join(', ')}]` : ''} (${model.numParameters().toLocaleString('en-US')} parameters)`,
      `K = ${config.ks.join(', ')}`,
      `${plural(config.epochs, 'epoch')} × ${plural(batches, 'batch', 'batches')}`,
      device === 'cuda' ? 'device cuda' : `backend ${backendName()}`,
      ...(resumeCkpt ? [`resuming at epoch ${state.epoch + 1} batch ${state.batch + 1}`] : []),
    ], 80, ';'),
  );

  // ---- 4. create and lock the output directory (it must be writable), train ----
  let createdDir = false;
  try {
    if (o.out === undefined && !resumeCkpt) {
      // a default directory is claimed by creating it: runs started in the same second differ
      mkdirSync(dirname(outDir), { recursive: true });
      const base = outDir;
      for (let i = 2; !createdDir; i++) {
        try {
          mkdirSync(outDir);
          createdDir = true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          outDir = `${base}-${i}`;
        }
      }
      outShown = shownPath(ctx, outDir);
    } else {
      createdDir = !existsSync(outDir);
      mkdirSync(outDir, { recursive: true });
    }
  } catch (e) {
    throw ctx.usageError(`--out ${outShown}: cannot create the directory (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, e);
  }
  const cleanup = (): void => {
    if (createdDir && readdirSync(outDir).length === 0) rmSync(outDir, { recursive: true, force: true });
  };
  let lock: DirLock | null = null;
  try {
    lock = lockRunDirectory(ctx, outDir, outShown);
    // another run may have finished there while this one loaded its data
    checkNotARun();
  } catch (e) {
    lock?.release();
    cleanup();
    throw e;
  }
  try {
    return await trainLocked(ctx, o, { config, device, outDir, ds, model, method, optimizer, schedule, state, batches, t0 });
  } finally {
    lock.release();
    cleanup();
  }
}

interface LockedRun {
  config: RunConfig;
  device: ReturnType<typeof applyBackendOptions>;
  outDir: string;
  ds: ReturnType<typeof loadDatasetCli>;
  model: ReturnType<typeof buildRunCli>['model'];
  method: ReturnType<typeof buildRunCli>['method'];
  optimizer: ReturnType<typeof buildRunCli>['optimizer'];
  schedule: ReturnType<typeof buildRunCli>['schedule'];
  state: TrainState;
  batches: number;
  t0: number;
}

/** Steps 4 and 5 of runTrain, with the output directory created and locked. */
async function trainLocked(ctx: CliContext, o: TrainOptions, locked: LockedRun): Promise<number> {
  const { config, device, outDir, ds, model, method, optimizer, schedule, batches, t0 } = locked;
  let state = locked.state;
  const ckptPath = join(outDir, 'checkpoint.safetensors');
  const ckptShown = shownPath(ctx, ckptPath);

  const progress = new TrainProgress(ctx, { epochs: config.epochs, batches });
  let stop = false;
  let stopSignal: StopSignal = 'SIGINT';
  const unregister = ctx.io.onInterrupt?.((signal) => {
    if (stop) return;
    stop = true;
    stopSignal = signal ?? 'SIGINT';
    progress.stopBar();
    const again = stopSignal === 'SIGINT' ? 'Ctrl-C again' : `${stopSignal} again`;
    ctx.err(`avgk: interrupted (${signalName(stopSignal)}): finishing the current step and writing a checkpoint (${again} to abort without saving)`);
  });
  let result: FitResult | null = null;
  let lastWeights: StateDict | null = null;
  try {
    const res = await fitAsync(model, method, optimizer, ds, {
      ...fitOptions(config, schedule),
      resume: state,
      device,
      onStep: (info) => progress.step(info, info.samplesSeen, info.elapsed),
      onEpoch: (info) => {
        progress.epoch(info);
        if (info.epoch === config.epochs - 1) lastWeights = model.stateDict();
      },
      shouldStop: () => stop,
    });
    state = res.state;
    if (!res.interrupted) result = res;
  } catch (e) {
    progress.stopBar();
    unregister?.();
    throw ctx.failure(`training failed: ${(e as Error).message}`, e);
  }
  progress.stopBar();

  // ---- 5a. interrupted: resumable checkpoint, exit 128 + the signal's number ----
  if (result === null) {
    try {
      await saveTrainingCheckpoint(ckptPath, { model, optimizer, method, state, config: config as unknown as Record<string, unknown>, classNames: ds.classNames, status: 'interrupted', extra: { preprocessing: preprocessingOf(ds) } });
    } finally {
      unregister?.();
    }
    ctx.err(`avgk: interrupted at epoch ${state.epoch + 1}, batch ${state.batch} of ${batches}: wrote ${ckptShown}`);
    ctx.err(`avgk: resume with: avgk train --resume ${ckptShown}`);
    return signalExitCode(stopSignal);
  }
  unregister?.();

  // ---- 5b. finished: evaluate on test, checkpoint, report ----
  const trainSeconds = (performance.now() - t0) / 1000;
  const run = evaluateForCli(model, method, config, ds, 'test', { stored: { method: result.calibrations }, valScores: true });
  const cals = run.calibrations;
  const evaluation = run.result;
  const heads = { method: methodLabel(method), softmax: BASELINE_LABEL };
  const curves = accuracyVsK(ds, config.ks, config.seed, run.val!, run.scores, heads);

  const storedCals: Record<string, Calibration[]> = { method: cals.method! };
  if (cals.softmax) storedCals.softmax = cals.softmax;
  await saveTrainingCheckpoint(ckptPath, {
    model,
    optimizer,
    method,
    state,
    modelState: lastWeights ?? model.stateDict(),
    config: config as unknown as Record<string, unknown>,
    classNames: ds.classNames,
    status: 'complete',
    calibrations: storedCals,
    extra: { preprocessing: preprocessingOf(ds) },
    metrics: { test: resultsJson(evaluation), bestEpoch: result.bestEpoch },
  });

  ctx.out('');
  ctx.out(
    wrapParts([
      `Test results — ${ds.name}`,
      config.method.name,
      config.model.name,
      plural(config.epochs, 'epoch'),
      `best epoch ${result.bestEpoch + 1}`,
      `${ds.test.n} test samples`,
      `thresholds calibrated on validation (${ds.val.n} samples)`,
      ...(!methodDef(config.method.name).kIndependent && config.ks.length > 1 ? [`trained for K = ${trainK(config)}`] : []),
    ]),
  );
  ctx.out(formatResults(evaluation));
  ctx.out('');
  ctx.out(`checkpoint: ${ckptShown}`);
  if (o.report !== false) {
    const written = await writeRunReport(outDir, {
      config,
      ds,
      history: state.history,
      bestEpoch: result.bestEpoch,
      test: evaluation,
      curves,
      scores: run.scores,
      calibrations: cals,
      command: ['avgk', ...ctx.argv].join(' '),
      backend: device === 'cuda' ? 'cuda' : backendName(),
      seconds: trainSeconds,
      checkpoint: 'checkpoint.safetensors',
      numParameters: model.numParameters(),
    });
    ctx.out(`report:     ${shownPath(ctx, written.html)}`);
    ctx.out(`summary:    ${shownPath(ctx, written.json)}, ${shownPath(ctx, written.md)}`);
  }
  ctx.info(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}
