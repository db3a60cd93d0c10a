/**
 * What a training method is: the facts the rest of avgk needs about it (which head is
 * thresholded, whether one model serves every K, the smallest K it trains for, its options with
 * defaults and one-line docs) and `create`. The CLI's flags and --help, config validation,
 * reports and checkpoints read these; nothing else names a method.
 */
import type { Rng } from '../../tensor/rng.js';
import type { AvgKMethod } from '../losses.js';

/** One option of a method: a number in a range, or one of a few names. */
export type OptionDef =
  | { type: 'number'; default: number; doc: string; min: number; max?: number; maxExclusive?: boolean; minExclusive?: boolean; integer?: boolean }
  | { type: 'enum'; default: string; doc: string; choices: readonly string[] };

export type OptionsSchema = Readonly<Record<string, OptionDef>>;
export type OptionValues = Record<string, number | string>;

export interface CreateArgs {
  /** The K the method trains for (K-dependent methods) or the first K (others). */
  k: number;
  numClasses: number;
  /** Size of the training split (ROLE keeps a row per sample). */
  numTrain: number;
  /** Generator for the method's own random state (ROLE's initial estimates). */
  rng: Rng;
  /** Every option of the schema, defaults filled in. */
  options: OptionValues;
}

export interface MethodDef<N extends string = string> {
  readonly name: N;
  /** One line for --help and reports. */
  readonly summary: string;
  /** The head whose scores are calibrated and thresholded at test time. */
  readonly scoreHead: 'softmax' | 'multilabel';
  /** Other heads whose thresholded sets are reported too (two-head: its softmax head, a baseline of the same model). */
  readonly extraHeads: readonly 'softmax'[];
  /** True when one trained model serves every K (the K only enters at calibration). */
  readonly kIndependent: boolean;
  readonly options: OptionsSchema;
  /** The smallest K it can train for with these options (two-head: 1, since the true label is always a positive). */
  minK(options: OptionValues): number;
  create(args: CreateArgs): AvgKMethod;
}
