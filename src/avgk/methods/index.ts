/**
 * The method registry: every training method avgk knows, in the order shown to users. Adding a
 * method is one file in this folder (a MethodDef) and one line here; the CLI's flags and --help,
 * config validation, reports and checkpoints all read the registry.
 */
import type { Rng } from '../../tensor/rng.js';
import { UsageError } from '../../errors.js';
import type { AvgKMethod } from '../method.js';
import type { MethodDef, OptionDef, OptionValues } from './registry-types.js';
import { softmaxMethod } from './softmax.js';
import { twoHeadMethod } from './two-head.js';
import { anMethod, anLsMethod, wanMethod } from './single-positive.js';
import { eprMethod } from './epr.js';
import { roleMethod } from './role.js';

export type { MethodDef, OptionDef, OptionValues, CreateArgs, OptionsSchema } from './registry-types.js';

export const METHODS = [softmaxMethod, twoHeadMethod, anMethod, wanMethod, anLsMethod, eprMethod, roleMethod] as const;

export type MethodName = (typeof METHODS)[number]['name'];
export const METHOD_NAMES: readonly MethodName[] = METHODS.map((m) => m.name);

/** The registry entry of a method; an error listing the known names otherwise. */
export function methodDef(name: string): MethodDef {
  const def = METHODS.find((m) => m.name === name);
  if (!def) throw new UsageError(`unknown method ${JSON.stringify(name)} (expected one of ${METHOD_NAMES.join(', ')})`);
  return def;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

/** The largest finite float32: numbers beyond it become Infinity in the tensors they scale. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Checks one option value against its definition; returns the error text or null. */
export function optionError(def: OptionDef, v: unknown): string | null {
  if (def.type === 'enum') return typeof v === 'string' && def.choices.includes(v) ? null : `must be one of ${def.choices.map((c) => `"${c}"`).join(', ')}, got ${show(v)}`;
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a number, got ${show(v)}`;
  if (Math.abs(v) > FLOAT32_MAX) return `must be within the float32 range (|x| ≤ ${FLOAT32_MAX.toPrecision(8)}), got ${show(v)}`;
  if (def.integer && !Number.isInteger(v)) return `must be a whole number, got ${show(v)}`;
  const lo = def.minExclusive ? v > def.min : v >= def.min;
  const hi = def.max === undefined || (def.maxExclusive ? v < def.max : v <= def.max);
  if (lo && hi) return null;
  const range = def.max === undefined ? `${def.minExclusive ? '>' : '≥'} ${def.min}` : `in ${def.minExclusive ? '(' : '['}${def.min}, ${def.max}${def.maxExclusive ? ')' : ']'}`;
  return `must be a number ${range}, got ${show(v)}`;
}

/**
 * A method's options with defaults filled in. Unknown keys and bad values are errors naming
 * `${field}.${key}` (e.g. "config.methods[1].options.mu: must be a number ≥ 0, got -1").
 */
export function resolveOptions(def: MethodDef, raw: Record<string, unknown> = {}, field = 'options'): OptionValues {
  const out: OptionValues = {};
  const keys = Object.keys(def.options);
  for (const k of Object.keys(raw)) {
    if (raw[k] === undefined) continue;
    if (!keys.includes(k)) throw new UsageError(`${field}.${k}: ${keys.length ? `not an option of ${def.name} (its options: ${keys.join(', ')})` : `${def.name} takes no options`}`);
  }
  for (const k of keys) {
    const d = def.options[k]!;
    const v = raw[k] === undefined ? d.default : raw[k];
    const err = optionError(d, v);
    if (err) throw new UsageError(`${field}.${k}: ${err}`);
    out[k] = v as number | string;
  }
  return out;
}

export interface MethodOptions {
  /** Target average set size (used by two-head, EPR and ROLE; the others are K-independent). */
  k: number;
  numClasses: number;
  /** Size of the training split (ROLE). */
  numTrain?: number;
  rng?: Rng;
  /** The method's own options (see each MethodDef's schema), e.g. mu for two-head. */
  [option: string]: unknown;
}

/**
 * A method ready to train: `createMethod('two-head', { k: 2, numClasses: 10, mu: 0.5 })`.
 * K must be in [minK, C) for C classes.
 */
export function createMethod(name: string, opts: MethodOptions): AvgKMethod {
  const def = methodDef(name);
  const c = opts.numClasses;
  if (!Number.isInteger(c) || c < 2) throw new UsageError(`createMethod: numClasses must be an integer ≥ 2, got ${c}`);
  const { k, numClasses: _c, numTrain, rng, ...raw } = opts;
  const options = resolveOptions(def, raw, name);
  const minK = def.minK(options);
  if (typeof k !== 'number' || !Number.isFinite(k) || k < minK || k >= c) {
    throw new UsageError(`${name}: K must be in [${minK}, ${c}) for ${c} classes, got ${k}`);
  }
  if (name === 'role' && !rng) throw new UsageError('role: an rng is required to initialise the label estimates');
  return def.create({ k, numClasses: c, numTrain: numTrain ?? 0, rng: rng as Rng, options });
}
