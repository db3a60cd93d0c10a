/**
 * The configuration of `avgk compare` (an experiment grid: methods × K × seeds on one dataset)
 * and its validation. Every error is one line that names the offending field, e.g.
 *   config.ks[1]: K must be in (0, 10) for 10 classes, got 12
 *   config.methods[2]: unknown method "foo" (expected softmax, two-head, an, wan, an-ls, epr, role)
 * Unknown keys are errors at every level.
 */
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import { FLOAT32_MAX, METHOD_NAMES, methodDef, resolveOptions, type MethodName } from '../avgk/methods/index.js';
import { MODEL_NAMES, type ModelSpec } from '../avgk/model.js';
import { validateDatasetSpec, type DatasetSpec } from '../data/index.js';
import { resolveSyntheticOptions, type SyntheticOptions } from '../data/synthetic.js';

export interface MethodConfig {
  name: MethodName;
  /** The options given (validated against the method's schema in src/avgk/methods; defaults are filled in when the method is created). */
  options: Record<string, number | string>;
  /** Name used in results (default: the method's name; must be unique). */
  label: string;
  /** This method's optimiser when it differs from the config's (fields given are merged over it). */
  optimizer?: OptimizerConfig;
}

export interface OptimizerConfig {
  name: 'sgd' | 'adam';
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export type ScheduleConfig =
  | { name: 'cosine'; minLr?: number; warmup?: number }
  | { name: 'step'; milestones?: number[]; stepSize?: number; gamma?: number }
  | { name: 'constant' };

/**
 * A validation-only search run before the test cells: every method trains with each learning
 * rate of `lr` and each value of every option in `options` that its schema has and its config
 * does not fix, on `seeds` for `epochs`; each method then keeps the point with the best mean
 * validation average-K accuracy (over K and seeds) for the test cells.
 */
export interface TuneConfig {
  lr?: number[];
  options?: Record<string, (number | string)[]>;
  seeds: number[];
  epochs?: number;
}

export interface CompareConfig {
  dataset: DatasetSpec;
  methods: MethodConfig[];
  ks: number[];
  seeds: number[];
  model: ModelSpec;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  threads?: number;
  /** Where every cell trains: 'cpu' (default) or 'cuda'. */
  device?: 'cpu' | 'cuda';
  augment?: boolean;
  evalBatchSize?: number;
  /** Free text kept in results (what the experiment is for). */
  description?: string;
  tune?: TuneConfig;
}

const TOP_KEYS = ['dataset', 'methods', 'ks', 'seeds', 'model', 'epochs', 'batchSize', 'optimizer', 'schedule', 'threads', 'device', 'augment', 'evalBatchSize', 'description', 'tune', '$schema', 'comment'];

/** The widest layer (mlp hidden width, synthetic input dimension) a run may declare. */
export const MAX_WIDTH = 65536;
/** The most classes a run may declare. */
export const MAX_CLASSES = 10000;

/** A compare configuration that does not validate (a UsageError: code ERR_AVGK_USAGE). */
export class ConfigError extends UsageError {}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function fail(field: string, msg: string): never {
  throw new ConfigError(`${field}: ${msg}`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) fail(`${field}.${k}`, `unknown key (allowed: ${allowed.join(', ')})`);
  }
}

function num(v: unknown, field: string, check: (x: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) fail(field, `must be ${what}, got ${show(v)}`);
  if (Math.abs(v) > FLOAT32_MAX) fail(field, `must be within the float32 range (|x| ≤ ${FLOAT32_MAX.toPrecision(8)}), got ${show(v)}`);
  return v;
}

function int(v: unknown, field: string, lo: number, hi = Infinity): number {
  const what = hi === Infinity ? `an integer ≥ ${lo}` : `an integer in [${lo}, ${hi}]`;
  return num(v, field, (x) => Number.isInteger(x) && x >= lo && x <= hi, what);
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(field, `must be true or false, got ${show(v)}`);
  return v;
}

/** Number of classes of a dataset spec, known without loading it. */
export function datasetNumClasses(spec: DatasetSpec): number {
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist':
    case 'cifar10':
      return 10;
    case 'cifar100':
      return spec.label === 'coarse' ? 20 : 100;
    case 'synthetic':
      return resolveSyntheticOptions(syntheticPart(spec)).numClasses;
  }
}

function syntheticPart(spec: DatasetSpec & { name: 'synthetic' }): Partial<SyntheticOptions> {
  const { name: _n, normalize: _z, labelNoise: _l, longTail: _t, ...rest } = spec as unknown as Record<string, unknown>;
  return rest as Partial<SyntheticOptions>;
}

/** True when the training class counts are meant to be long-tailed (buckets are then reported). */
export function isLongTailed(spec: DatasetSpec): boolean {
  if (spec.longTail !== undefined && spec.longTail.alpha > 0) return true;
  return spec.name === 'synthetic' && ((spec.zipfAlpha ?? 0) > 0 || (spec.fewShot?.classes ?? 0) > 0);
}

/** The input shape, total sample count and classes of a dataset, known without loading it. */
function datasetShape(spec: DatasetSpec): { sampleShape: number[]; n: number; numClasses: number; posterior: boolean } {
  switch (spec.name) {
    case 'fashion-mnist':
    case 'mnist':
      return { sampleShape: [1, 28, 28], n: 70000, numClasses: 10, posterior: false };
    case 'cifar10':
    case 'cifar100':
      return { sampleShape: [3, 32, 32], n: 60000, numClasses: datasetNumClasses(spec), posterior: false };
    case 'synthetic': {
      const o = resolveSyntheticOptions(syntheticPart(spec));
      const sampleShape = o.image ? [o.image.channels, o.image.size, o.image.size] : [o.dim];
      return { sampleShape, n: o.nTrain + o.nVal + o.nTest, numClasses: o.numClasses, posterior: true };
    }
  }
}

export interface MemoryEstimate {
  /** Total bytes: the sum of the parts. */
  bytes: number;
  /** The dataset as float32 (and the synthetic posteriors). */
  data: number;
  /** Weights, gradients, optimiser buffers and the best epoch's copy. */
  model: number;
  parameters: number;
  /** One training batch's activations and their gradients. */
  activations: number;
}

/**
 * A lower bound on the memory one run of `cfg` needs (each part counted once, without the
 * engine's temporaries), computed from the configuration alone.
 */
export function estimateRunMemory(cfg: Pick<CompareConfig, 'dataset' | 'model' | 'batchSize' | 'optimizer' | 'methods' | 'evalBatchSize'>): MemoryEstimate {
  const { sampleShape, n, numClasses: c, posterior } = datasetShape(cfg.dataset);
  const p = sampleShape.reduce((a, b) => a * b, 1);
  const hw = sampleShape.length === 3 ? sampleShape[1]! * sampleShape[2]! : 1;
  const data = 4 * n * (p + (posterior ? c : 0));
  let parameters: number;
  let features: number;
  let perSample: number; // activation floats per sample (forward)
  if (cfg.model.name === 'mlp') {
    const widths = [p, ...(cfg.model.hidden ?? [256, 256])];
    parameters = 0;
    for (let i = 1; i < widths.length; i++) parameters += widths[i - 1]! * widths[i]! + widths[i]!;
    features = widths[widths.length - 1]!;
    perSample = widths.reduce((a, b) => a + b, 0);
  } else if (cfg.model.name === 'cnn') {
    parameters = 9 * (sampleShape[0]! * 32 + 32 * 32 + 32 * 64 + 64 * 64);
    features = 64;
    perSample = hw * (2 * 32 + (2 * 64) / 4);
  } else {
    parameters = 11_000_000;
    features = 512;
    perSample = hw * (5 * 64 + (4 * 128) / 4 + (4 * 256) / 16 + (4 * 512) / 64);
  }
  parameters += 2 * (features * c + c);
  // weights, gradients and the best epoch's copy, plus the optimisers' buffers (Adam m and v, SGD momentum)
  const slots = Math.max(...[cfg.optimizer, ...cfg.methods.map((m) => m.optimizer ?? cfg.optimizer)].map((o) => (o.name === 'adam' ? 2 : o.momentum > 0 ? 1 : 0)));
  const model = 4 * parameters * (3 + slots);
  const batch = Math.max(2 * cfg.batchSize, cfg.evalBatchSize ?? 0);
  const activations = 4 * batch * (perSample + 2 * c);
  return { bytes: data + model + activations, data, model, parameters, activations };
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toPrecision(3)} GB`;
}

/** Refuses a configuration whose estimated memory exceeds `budget` bytes, naming its largest part's field. */
function checkMemory(cfg: CompareConfig, budget: number): void {
  const m = estimateRunMemory(cfg);
  if (m.bytes <= budget) return;
  const model = cfg.model.name === 'mlp' ? 'config.model.hidden' : 'config.model';
  const field = m.data >= m.model && m.data >= m.activations ? 'config.dataset' : m.model >= m.activations ? model : 'config.batchSize';
  fail(
    field,
    `the run needs at least ${gb(m.bytes)} of memory (data ${gb(m.data)}, model ${m.parameters.toExponential(2)} parameters: ${gb(m.model)} ` +
      `with gradients and optimiser state, activations ${gb(m.activations)}), more than the ${gb(budget)} available`,
  );
}

function validateDataset(raw: unknown): DatasetSpec {
  const field = 'config.dataset';
  if (raw === undefined) fail(field, 'missing (a dataset spec such as {"name": "fashion-mnist"})');
  let spec: DatasetSpec;
  try {
    spec = validateDatasetSpec(raw);
    if (spec.name === 'synthetic') resolveSyntheticOptions(syntheticPart(spec));
  } catch (e) {
    const msg = (e as Error).message;
    // the data layer names fields "dataset.x: ..."; prefix them with "config."
    throw new ConfigError(msg.startsWith('dataset') ? `config.${msg}` : `${field}: ${msg}`);
  }
  if (spec.name === 'synthetic') {
    const o = resolveSyntheticOptions(syntheticPart(spec));
    if (o.numClasses > MAX_CLASSES) fail(`${field}.numClasses`, `must be ≤ ${MAX_CLASSES}, got ${o.numClasses}`);
    if (o.dim > MAX_WIDTH) fail(`${field}.dim`, `must be ≤ ${MAX_WIDTH}, got ${o.dim}`);
    // a run calibrates its thresholds on validation and reports on test
    if (o.nVal < 1) fail(`${field}.nVal`, `must be ≥ 1 (thresholds are calibrated on validation), got ${o.nVal}`);
    if (o.nTest < 1) fail(`${field}.nTest`, `must be ≥ 1 (results are reported on test), got ${o.nTest}`);
  } else if (spec.valSize === 0) {
    fail(`${field}.valSize`, 'must be ≥ 1 (thresholds are calibrated on validation), got 0');
  }
  return spec;
}

function validateMethods(raw: unknown, baseOptimizer: OptimizerConfig): MethodConfig[] {
  const field = 'config.methods';
  if (!Array.isArray(raw) || raw.length === 0) fail(field, `must be a non-empty array of method names or {name, options} objects, got ${show(raw)}`);
  const expected = `(expected ${METHOD_NAMES.join(', ')})`;
  const out = raw.map((m, i): MethodConfig => {
    const f = `${field}[${i}]`;
    let name: unknown;
    let options: Record<string, unknown> = {};
    let label: unknown;
    let optimizer: OptimizerConfig | undefined;
    if (typeof m === 'string') name = m;
    else if (isObj(m)) {
      checkKeys(m, ['name', 'options', 'label', 'optimizer'], f);
      if (m.optimizer !== undefined) {
        if (!isObj(m.optimizer)) fail(`${f}.optimizer`, `must be an object (fields merged over config.optimizer), got ${show(m.optimizer)}`);
        // another optimiser replaces the config's; the same one takes the fields given over it
        const merged = m.optimizer.name === undefined || m.optimizer.name === baseOptimizer.name ? { ...baseOptimizer, ...m.optimizer } : m.optimizer;
        if (merged.name === 'adam') {
          delete (merged as Record<string, unknown>).momentum;
          delete (merged as Record<string, unknown>).nesterov;
        }
        optimizer = validateOptimizer(merged, `${f}.optimizer`);
      }
      name = m.name;
      if (m.options !== undefined) {
        if (!isObj(m.options)) fail(`${f}.options`, `must be an object, got ${show(m.options)}`);
        options = m.options;
      }
      label = m.label;
    } else fail(f, `must be a method name or an object {name, options?, label?}, got ${show(m)}`);
    if (typeof name !== 'string' || !(METHOD_NAMES as readonly string[]).includes(name)) {
      fail(typeof m === 'string' ? f : `${f}.name`, `unknown method ${show(name)} ${expected}`);
    }
    const mn = name as MethodName;
    // the registry validates (unknown keys, types, ranges); keep only what was given
    try {
      resolveOptions(methodDef(mn), options, `${f}.options`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    const o: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(options)) if (v !== undefined) o[k] = v as number | string;
    if (label !== undefined && (typeof label !== 'string' || !/^[\w.+:=/-][\w .+:=/,()-]{0,63}$/.test(label) || label === 'bayes')) {
      fail(`${f}.label`, `must be a short name (letters, digits, . + : = / - _ , ( ) and spaces; not "bayes"), got ${show(label)}`);
    }
    const mc: MethodConfig = { name: mn, options: o, label: (label as string | undefined) ?? '' };
    if (optimizer) mc.optimizer = optimizer;
    return mc;
  });
  // default labels: the name when unique, else name(opt=value,...)
  const counts = new Map<string, number>();
  for (const m of out) counts.set(m.name, (counts.get(m.name) ?? 0) + 1);
  for (const m of out) {
    if (m.label) continue;
    const opts = [...Object.entries(m.options), ...(m.optimizer ? [['lr', m.optimizer.lr]] : [])].map(([k, v]) => `${k}=${v}`).join(',');
    m.label = counts.get(m.name)! > 1 && opts ? `${m.name}(${opts})` : m.name;
  }
  const seen = new Map<string, number>();
  out.forEach((m, i) => {
    const prev = seen.get(m.label);
    if (prev !== undefined) fail(`${field}[${i}]`, `duplicate method "${m.label}" (also config.methods[${prev}]); give one of them a distinct "label" or different options`);
    seen.set(m.label, i);
  });
  return out;
}

function validateKs(raw: unknown, c: number, methods: MethodConfig[]): number[] {
  const field = 'config.ks';
  if (!Array.isArray(raw) || raw.length === 0) fail(field, `must be a non-empty array of average set sizes, got ${show(raw)}`);
  // the largest of the methods' smallest trainable K (two-head: 1, since the true label is always a positive)
  let needs: { label: string; minK: number } | null = null;
  for (const m of methods) {
    const def = methodDef(m.name);
    const minK = def.kIndependent ? 0 : def.minK(resolveOptions(def, m.options));
    if (minK > 0 && (needs === null || minK > needs.minK)) needs = { label: m.label, minK };
  }
  const seen = new Set<number>();
  return raw.map((k, i) => {
    const f = `${field}[${i}]`;
    if (typeof k !== 'number' || !Number.isFinite(k) || !(k > 0 && k < c)) fail(f, `K must be in (0, ${c}) for ${c} classes, got ${show(k)}`);
    if (needs && k < needs.minK) fail(f, `K must be ≥ ${needs.minK} for method "${needs.label}" (the true label is always a positive), got ${k}`);
    if (seen.has(k)) fail(f, `duplicate K ${k}`);
    seen.add(k);
    return k;
  });
}

function validateSeeds(raw: unknown, field = 'config.seeds'): number[] {
  if (!Array.isArray(raw) || raw.length === 0) fail(field, `must be a non-empty array of integer seeds, got ${show(raw)}`);
  const seen = new Set<number>();
  return raw.map((s, i) => {
    const v = int(s, `${field}[${i}]`, 0, 2 ** 31 - 1);
    if (seen.has(v)) fail(`${field}[${i}]`, `duplicate seed ${v}`);
    seen.add(v);
    return v;
  });
}

function validateModel(raw: unknown): ModelSpec {
  const field = 'config.model';
  if (!isObj(raw)) fail(field, `must be an object {name: ${MODEL_NAMES.map((m) => `"${m}"`).join(' | ')}, hidden?, dropout?}, got ${show(raw)}`);
  checkKeys(raw, ['name', 'hidden', 'dropout'], field);
  if (typeof raw.name !== 'string' || !(MODEL_NAMES as readonly string[]).includes(raw.name)) fail(`${field}.name`, `unknown model ${show(raw.name)} (expected ${MODEL_NAMES.join(', ')})`);
  const spec: ModelSpec = { name: raw.name as ModelSpec['name'] };
  if (raw.hidden !== undefined) {
    if (raw.name !== 'mlp') fail(`${field}.hidden`, `only the "mlp" model has hidden widths`);
    if (!Array.isArray(raw.hidden) || raw.hidden.length === 0) fail(`${field}.hidden`, `must be a non-empty array of layer widths, got ${show(raw.hidden)}`);
    spec.hidden = raw.hidden.map((h, i) => int(h, `${field}.hidden[${i}]`, 1, MAX_WIDTH));
  }
  if (raw.dropout !== undefined) {
    if (raw.name !== 'mlp') fail(`${field}.dropout`, `only the "mlp" model has dropout`);
    spec.dropout = num(raw.dropout, `${field}.dropout`, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  }
  return spec;
}

function validateOptimizer(raw: unknown, field = 'config.optimizer'): OptimizerConfig {
  if (!isObj(raw)) fail(field, `must be an object {name: "sgd" | "adam", lr, momentum?, nesterov?, weightDecay?}, got ${show(raw)}`);
  if (raw.name !== 'sgd' && raw.name !== 'adam') fail(`${field}.name`, `unknown optimizer ${show(raw.name)} (expected sgd, adam)`);
  checkKeys(raw, raw.name === 'sgd' ? ['name', 'lr', 'momentum', 'nesterov', 'weightDecay'] : ['name', 'lr', 'weightDecay'], field);
  const lr = num(raw.lr, `${field}.lr`, (x) => x > 0, 'a number > 0');
  const momentum = raw.momentum === undefined ? 0 : num(raw.momentum, `${field}.momentum`, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  const nesterov = raw.nesterov === undefined ? false : bool(raw.nesterov, `${field}.nesterov`);
  if (nesterov && momentum === 0) fail(`${field}.nesterov`, 'Nesterov needs momentum > 0');
  const weightDecay = raw.weightDecay === undefined ? 0 : num(raw.weightDecay, `${field}.weightDecay`, (x) => x >= 0, 'a number ≥ 0');
  return { name: raw.name, lr, momentum, nesterov, weightDecay };
}

function validateSchedule(raw: unknown, epochs: number): ScheduleConfig {
  const field = 'config.schedule';
  if (raw === undefined) return { name: 'constant' };
  if (!isObj(raw)) fail(field, `must be an object {name: "cosine" | "step" | "constant", ...}, got ${show(raw)}`);
  switch (raw.name) {
    case 'constant':
      checkKeys(raw, ['name'], field);
      return { name: 'constant' };
    case 'cosine': {
      checkKeys(raw, ['name', 'minLr', 'warmup'], field);
      const s: ScheduleConfig = { name: 'cosine' };
      if (raw.minLr !== undefined) s.minLr = num(raw.minLr, `${field}.minLr`, (x) => x >= 0, 'a number ≥ 0');
      if (raw.warmup !== undefined) s.warmup = int(raw.warmup, `${field}.warmup`, 0, Math.max(0, epochs - 1));
      return s;
    }
    case 'step': {
      checkKeys(raw, ['name', 'milestones', 'stepSize', 'gamma'], field);
      const s: ScheduleConfig = { name: 'step' };
      if (raw.milestones !== undefined) {
        if (!Array.isArray(raw.milestones) || raw.milestones.length === 0) fail(`${field}.milestones`, `must be a non-empty array of epochs, got ${show(raw.milestones)}`);
        s.milestones = raw.milestones.map((m, i) => int(m, `${field}.milestones[${i}]`, 1));
        for (let i = 1; i < s.milestones.length; i++) if (s.milestones[i] <= s.milestones[i - 1]) fail(`${field}.milestones[${i}]`, `milestones must increase, got ${s.milestones[i]} after ${s.milestones[i - 1]}`);
      }
      if (raw.stepSize !== undefined) s.stepSize = int(raw.stepSize, `${field}.stepSize`, 1);
      if (s.milestones === undefined && s.stepSize === undefined) fail(field, 'a "step" schedule needs milestones or stepSize');
      if (s.milestones !== undefined && s.stepSize !== undefined) fail(`${field}.stepSize`, 'give milestones or stepSize, not both');
      if (raw.gamma !== undefined) s.gamma = num(raw.gamma, `${field}.gamma`, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
      return s;
    }
    default:
      fail(`${field}.name`, `unknown schedule ${show(raw.name)} (expected cosine, step, constant)`);
  }
}

function validateTune(raw: unknown, methods: MethodConfig[], schedule: ScheduleConfig): TuneConfig {
  const field = 'config.tune';
  if (!isObj(raw)) fail(field, `must be an object {seeds, epochs?, lr?: [...], options?: {name: [...]}}, got ${show(raw)}`);
  checkKeys(raw, ['seeds', 'epochs', 'lr', 'options'], field);
  const t: TuneConfig = { seeds: validateSeeds(raw.seeds, `${field}.seeds`) };
  const minEpochs = schedule.name === 'cosine' && schedule.warmup ? schedule.warmup + 1 : 1;
  if (raw.epochs !== undefined) t.epochs = int(raw.epochs, `${field}.epochs`, minEpochs, 100000);
  const list = (v: unknown, f: string): unknown[] => {
    if (!Array.isArray(v) || v.length === 0) fail(f, `must be a non-empty array of values to try, got ${show(v)}`);
    if (new Set(v.map((x) => JSON.stringify(x))).size !== v.length) fail(f, `has a repeated value: ${show(v)}`);
    return v;
  };
  if (raw.lr !== undefined) t.lr = list(raw.lr, `${field}.lr`).map((x, i) => num(x, `${field}.lr[${i}]`, (y) => y > 0, 'a number > 0'));
  if (raw.options !== undefined) {
    if (!isObj(raw.options)) fail(`${field}.options`, `must be an object {option: [values]}, got ${show(raw.options)}`);
    t.options = {};
    for (const [name, values] of Object.entries(raw.options)) {
      const f = `${field}.options.${name}`;
      const vs = list(values, f) as (number | string)[];
      const users = methods.filter((m) => methodDef(m.name).options[name] !== undefined);
      if (users.length === 0) fail(f, `no method of config.methods has an option "${name}"`);
      // each value must be valid for every method that has the option
      for (const m of users) {
        vs.forEach((v) => {
          try {
            resolveOptions(methodDef(m.name), { ...m.options, [name]: v }, `${field}.options`);
          } catch (e) {
            throw new ConfigError((e as Error).message);
          }
        });
      }
      t.options[name] = vs;
    }
  }
  if (t.lr === undefined && t.options === undefined) fail(field, 'give lr and/or options to search');
  return t;
}

export interface ValidateOptions {
  /** Bytes a run may use (default: the machine's memory, os.totalmem()). */
  memoryBudget?: number;
}

/**
 * Validates a parsed config object; throws a ConfigError whose one-line message names the field.
 * A run whose estimated memory (estimateRunMemory) exceeds the budget is refused.
 */
export function validateCompareConfig(raw: unknown, options: ValidateOptions = {}): CompareConfig {
  if (!isObj(raw)) fail('config', `must be a JSON object, got ${show(raw)}`);
  checkKeys(raw, TOP_KEYS, 'config');
  const dataset = validateDataset(raw.dataset);
  const c = datasetNumClasses(dataset);
  const optimizer = validateOptimizer(raw.optimizer);
  const methods = validateMethods(raw.methods, optimizer);
  const ks = validateKs(raw.ks, c, methods);
  const seeds = validateSeeds(raw.seeds === undefined ? [0] : raw.seeds);
  const model = validateModel(raw.model);
  const epochs = int(raw.epochs, 'config.epochs', 1, 100000);
  const batchSize = int(raw.batchSize, 'config.batchSize', 1, 1 << 20);
  const schedule = validateSchedule(raw.schedule, epochs);
  const cfg: CompareConfig = { dataset, methods, ks, seeds, model, epochs, batchSize, optimizer, schedule };
  if (raw.threads !== undefined) cfg.threads = int(raw.threads, 'config.threads', 1, 1024);
  if (raw.device !== undefined) {
    if (raw.device !== 'cpu' && raw.device !== 'cuda') fail('config.device', `must be "cpu" or "cuda", got ${show(raw.device)}`);
    cfg.device = raw.device;
  }
  if (raw.augment !== undefined) {
    cfg.augment = bool(raw.augment, 'config.augment');
    if (cfg.augment && dataset.name !== 'cifar10' && dataset.name !== 'cifar100') fail('config.augment', `random crop + flip is for 32×32 colour images (cifar10, cifar100), not "${dataset.name}"`);
  }
  if (raw.evalBatchSize !== undefined) cfg.evalBatchSize = int(raw.evalBatchSize, 'config.evalBatchSize', 1, 1 << 20);
  if (raw.description !== undefined) {
    if (typeof raw.description !== 'string') fail('config.description', `must be a string, got ${show(raw.description)}`);
    cfg.description = raw.description;
  }
  if (raw.tune !== undefined) cfg.tune = validateTune(raw.tune, methods, schedule);
  if (model.name !== 'mlp' && dataset.name === 'synthetic' && (dataset as { image?: unknown }).image === undefined) {
    fail('config.model.name', `model "${model.name}" needs image inputs; synthetic data are vectors unless dataset.image is set`);
  }
  checkMemory(cfg, options.memoryBudget ?? totalmem());
  return cfg;
}

/** Parses JSON text and validates it. `source` names the file in JSON syntax errors. */
export function parseCompareConfig(text: string, source = 'config'): CompareConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config: ${source} is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return validateCompareConfig(raw);
}
