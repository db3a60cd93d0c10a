/** `avgk eval`: recompute the metrics of a checkpoint on a split (the dataset is reloaded from its config). */
import { Command, Option } from 'commander';
import type { SplitName } from '../data/index.js';
import { bestWeights, loadWeights } from '../train/checkpointing.js';
import type { CliContext } from './context.js';
import { addBackendOptions, addOutputOptions, applyBackendOptions, applyOutputOptions } from './common.js';
import { checkKs, choiceParser, kListParser, uniqueKs } from './options.js';
import {
  buildRunCli,
  evaluateForCli,
  formatResults,
  loadCheckpointCli,
  loadDatasetCli,
  resultsJson,
} from './runtime.js';

export const SPLIT_NAMES = ['test', 'val', 'train'] as const;

interface EvalOptions {
  checkpoint: string;
  split?: SplitName;
  k?: number[];
  json?: boolean;
  backend?: 'js' | 'native';
  device?: 'cpu' | 'cuda';
  threads?: number;
  quiet?: boolean;
  verbose?: boolean;
}

export function registerEval(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('eval')
    .description('recompute average-K metrics of a checkpoint on a split')
    .requiredOption('--checkpoint <file>', 'checkpoint written by avgk train (checkpoint.safetensors)')
    .addOption(new Option('--split <split>', 'split to evaluate: test, val or train (default: test)').argParser(choiceParser('split', SPLIT_NAMES)))
    .option('--k <K...>', "K values (default: the run's)", kListParser)
    .option('--json', 'print the results as JSON');
  addBackendOptions(cmd);
  addOutputOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The dataset is reloaded from the configuration stored in the checkpoint; the weights are those of
the best epoch. Thresholds are the ones calibrated on validation at the end of training (for K
values trained with), else calibrated on validation now.`,
  );
  cmd.action(async (opts: EvalOptions) => {
    applyOutputOptions(ctx, opts);
    ctx.exitCode = await runEval(ctx, opts);
  });
  return cmd;
}

async function runEval(ctx: CliContext, o: EvalOptions): Promise<number> {
  const ckpt = await loadCheckpointCli(ctx, o.checkpoint);
  const device = applyBackendOptions(ctx, o);
  const config = ckpt.config;
  const ds = loadDatasetCli(ctx, config.dataset);
  const ks = uniqueKs(o.k ?? config.ks);
  const kErr = checkKs(ks, ds.numClasses, ds.name);
  if (kErr) throw ctx.usageError(kErr);
  if (ckpt.meta.classNames.length !== ds.numClasses) {
    throw ctx.usageError(`checkpoint ${o.checkpoint}: ${ckpt.meta.classNames.length} classes, but the dataset has ${ds.numClasses}`);
  }
  const { model, method } = buildRunCli(ctx, config, ds);
  try {
    loadWeights(ckpt, model, bestWeights(ckpt));
  } catch (e) {
    throw ctx.usageError((e as Error).message.replace(ckpt.path, o.checkpoint), e);
  }
  model.to(device);
  const split: SplitName = o.split ?? 'test';
  if (ds[split].n === 0) throw ctx.usageError(`--split ${split}: the split is empty`);
  const { result } = evaluateForCli(model, method, config, ds, split, { ks, stored: ckpt.meta.calibrations });
  if (o.json) {
    ctx.out(JSON.stringify({ checkpoint: o.checkpoint, dataset: ds.name, method: config.method.name, ...resultsJson(result) }, null, 2));
  } else {
    ctx.out(`${split} results — ${ds.name}, ${config.method.name}, ${ds[split].n} samples, thresholds calibrated on validation (${ds.val.n})`);
    ctx.out(formatResults(result));
  }
  return 0;
}
