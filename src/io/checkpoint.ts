/**
 * Training checkpoints: one safetensors file, written atomically.
 *
 * `<path>.safetensors` holds every tensor (by convention `model.<param>` for weights and
 * `optim.<param>.<slot>` for optimiser buffers such as Adam's `m`/`v` or SGD's `momentum`), and its
 * `__metadata__` holds, under the key "avgk", a JSON string with everything else:
 *
 *   { format: 'avgk-checkpoint', formatVersion: 1, libraryVersion, tensorCrc32: {<name>: crc},
 *     config, epoch, step, optimizer: {name, hyper, stepCount, ...}, rng, thresholds, classNames, metrics, ... }
 *
 * What goes into the tensors and the meta is up to the caller (the training loop); this module only
 * stamps the format fields and the CRC-32 of each tensor's bytes, checks that the meta survives
 * JSON exactly, and validates on load (checksums are verified when present: files written before
 * they were stamped still load).
 * PyTorch can read the tensors with `safetensors.torch.load_file` and the meta with
 * `json.loads(safe_open(path, 'pt').metadata()['avgk'])`.
 */
import { existsSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { CheckpointError } from '../errors.js';
import { libraryVersion } from './package.js';
import { stringifyStrict, writeFileAtomic } from './atomic.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  readFileBytes,
  type SafeTensor,
  type TensorMap,
} from './safetensors.js';

export const CHECKPOINT_FORMAT = 'avgk-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;
/** The `__metadata__` key holding the JSON meta. */
export const CHECKPOINT_META_KEY = 'avgk';
export const CHECKPOINT_EXTENSION = '.safetensors';

export interface OptimizerState {
  name: string;
  hyper: Record<string, unknown>;
  stepCount: number;
  [key: string]: unknown;
}

/** The usual content of a checkpoint's meta. Every field is optional; more may be added. */
export interface CheckpointMeta {
  config?: unknown;
  epoch?: number;
  step?: number;
  optimizer?: OptimizerState;
  /** The RNG's state as JSON (bigints must be stored as strings). */
  rng?: unknown;
  /** Calibrated thresholds λ, keyed by K (e.g. {"2": 0.137}). */
  thresholds?: Record<string, number>;
  classNames?: string[];
  metrics?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Fields this module stamps into every checkpoint's meta. */
export interface CheckpointStamp {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: typeof CHECKPOINT_FORMAT_VERSION;
  libraryVersion: string;
  /** CRC-32 of each tensor's little-endian bytes (absent in files written before it was stamped). */
  tensorCrc32?: Record<string, number>;
}

/** CRC-32 of a tensor's bytes as stored (little-endian). */
function tensorCrc(t: SafeTensor): number {
  const d = t.data;
  return crc32(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)) >>> 0;
}

export interface Checkpoint<M extends object = CheckpointMeta> {
  tensors: TensorMap;
  meta: M;
}

export interface LoadedCheckpoint<M extends object = CheckpointMeta> {
  /** The file that was read. */
  path: string;
  tensors: TensorMap;
  meta: M & CheckpointStamp;
  /** Other `__metadata__` entries of the file (not "avgk"), e.g. added by other tools. */
  extraMetadata: Record<string, string>;
}

export interface SaveCheckpointOptions {
  /** Overrides the version read from the package's package.json. */
  libraryVersion?: string;
  /** Extra string entries for `__metadata__` (next to "avgk"), e.g. {"format": "pt"} for tools. */
  extraMetadata?: Record<string, string>;
  /** Decode the written temporary file before it replaces the target (default false). */
  verify?: boolean;
}

/** `path` with the `.safetensors` extension added unless it already has it (the file saveCheckpoint writes). */
export function checkpointFile(path: string): string {
  return path.endsWith(CHECKPOINT_EXTENSION) ? path : path + CHECKPOINT_EXTENSION;
}

/**
 * The file loadCheckpoint reads: `path` as given when it exists (whatever its name), else the
 * file saveCheckpoint(path) writes when that exists, else `path` (so errors name what was given).
 */
export function checkpointFileToRead(path: string): string {
  if (existsSync(path) || path.endsWith(CHECKPOINT_EXTENSION)) return path;
  return existsSync(checkpointFile(path)) ? checkpointFile(path) : path;
}

/** Tensor name of a model parameter: `model.<param>`. */
export function modelTensorName(param: string): string {
  return `model.${param}`;
}

/** Tensor name of an optimiser buffer: `optim.<param>.<slot>` (the slot must not contain '.'). */
export function optimTensorName(param: string, slot: string): string {
  if (slot.length === 0 || slot.includes('.')) throw new Error(`optimiser slot name must be non-empty without '.', got ${JSON.stringify(slot)}`);
  return `optim.${param}.${slot}`;
}

/**
 * Split checkpoint tensors by the naming convention: `model.<param>` → model[param],
 * `optim.<param>.<slot>` → optim[param][slot] (param may contain dots; the slot is the last part),
 * anything else → other[name].
 */
export function splitCheckpointTensors(tensors: TensorMap): {
  model: TensorMap;
  optim: Record<string, Record<string, SafeTensor>>;
  other: TensorMap;
} {
  const model = Object.create(null) as TensorMap;
  const optim = Object.create(null) as Record<string, Record<string, SafeTensor>>;
  const other = Object.create(null) as TensorMap;
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('model.') && name.length > 6) {
      model[name.slice(6)] = t;
      continue;
    }
    if (name.startsWith('optim.')) {
      const rest = name.slice(6);
      const dot = rest.lastIndexOf('.');
      if (dot > 0 && dot < rest.length - 1) {
        const param = rest.slice(0, dot);
        (optim[param] ??= Object.create(null) as Record<string, SafeTensor>)[rest.slice(dot + 1)] = t;
        continue;
      }
    }
    other[name] = t;
  }
  return { model, optim, other };
}



export { libraryVersion };

function hex(v: number): string {
  return (v >>> 0).toString(16).padStart(8, '0');
}

/**
 * Encode a checkpoint to safetensors bytes (exposed for tests and in-memory use).
 * The stamp fields overwrite any fields of the same name in `meta`.
 */
export function encodeCheckpoint<M extends object>(ckpt: Checkpoint<M>, options: Omit<SaveCheckpointOptions, 'verify'> = {}): Uint8Array {
  if (!ckpt || typeof ckpt !== 'object') throw new Error('expected {tensors, meta}');
  const { tensors, meta } = ckpt;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new Error('meta must be a plain object');
  const tensorCrc32 = Object.create(null) as Record<string, number>;
  for (const [name, t] of Object.entries(tensors)) tensorCrc32[name] = tensorCrc(t);
  const stamped = {
    ...meta,
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    libraryVersion: options.libraryVersion ?? libraryVersion(),
    tensorCrc32,
  };
  let json: string;
  try {
    json = stringifyStrict(stamped);
  } catch (e) {
    throw new Error(`meta cannot be stored: ${(e as Error).message.replace(/^\$/, 'meta')}`, { cause: e });
  }
  const metadata = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(options.extraMetadata ?? {})) {
    if (k === CHECKPOINT_META_KEY) throw new Error(`extraMetadata may not use the key "${CHECKPOINT_META_KEY}"`);
    metadata[k] = v;
  }
  metadata[CHECKPOINT_META_KEY] = json;
  return encodeSafetensors(tensors, metadata);
}

/**
 * Decode checkpoint bytes. `where` names the source in error messages (usually the path).
 * Errors read `checkpoint <where>: <problem>`.
 */
export function decodeCheckpoint<M extends object = CheckpointMeta>(bytes: Uint8Array, where: string): LoadedCheckpoint<M> {
  const fail = (msg: string, cause?: unknown): Error => new CheckpointError(`checkpoint ${where}: ${msg}`, cause === undefined ? undefined : { cause });
  let decoded;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (e) {
    throw fail(`truncated or corrupt file (${(e as Error).message})`, e);
  }
  const raw = decoded.metadata[CHECKPOINT_META_KEY];
  if (raw === undefined) throw fail(`not an avgk checkpoint: the safetensors metadata has no "${CHECKPOINT_META_KEY}" entry`);
  let meta: unknown;
  try {
    meta = JSON.parse(raw);
  } catch (e) {
    throw fail(`corrupt metadata: "${CHECKPOINT_META_KEY}" is not valid JSON (${(e as Error).message})`, e);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw fail(`corrupt metadata: "${CHECKPOINT_META_KEY}" is not a JSON object`);
  const m = meta as Record<string, unknown>;
  if (m.format !== CHECKPOINT_FORMAT) throw fail(`not an avgk checkpoint: format is ${JSON.stringify(m.format)} (expected "${CHECKPOINT_FORMAT}")`);
  if (m.formatVersion !== CHECKPOINT_FORMAT_VERSION) {
    throw fail(`format version ${JSON.stringify(m.formatVersion)} is not supported (expected ${CHECKPOINT_FORMAT_VERSION})`);
  }
  if (typeof m.libraryVersion !== 'string') throw fail('corrupt metadata: libraryVersion is missing');
  if (m.tensorCrc32 !== undefined) {
    const sums = m.tensorCrc32 as Record<string, unknown>;
    if (sums === null || typeof sums !== 'object' || Array.isArray(sums)) throw fail('corrupt metadata: tensorCrc32 is not an object');
    for (const name of Object.keys(sums)) if (!Object.hasOwn(decoded.tensors, name)) throw fail(`corrupt file: tensor ${name} is missing`);
    for (const [name, t] of Object.entries(decoded.tensors)) {
      const want = sums[name];
      if (typeof want !== 'number') throw fail(`corrupt metadata: tensorCrc32 has no checksum for tensor ${name}`);
      const got = tensorCrc(t);
      if (got !== want) throw fail(`corrupt file: tensor ${name} does not match its checksum (CRC-32 ${hex(got)}, stored ${hex(want)})`);
    }
  }
  const extraMetadata = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(decoded.metadata)) if (k !== CHECKPOINT_META_KEY) extraMetadata[k] = v;
  return { path: where, tensors: decoded.tensors, meta: m as M & CheckpointStamp, extraMetadata };
}

/**
 * Save atomically to `<path>.safetensors` (the extension is added unless present).
 * Returns the file written.
 */
export async function saveCheckpoint<M extends object>(path: string, ckpt: Checkpoint<M>, options: SaveCheckpointOptions = {}): Promise<string> {
  const file = checkpointFile(path);
  let bytes: Uint8Array;
  try {
    bytes = encodeCheckpoint(ckpt, options);
  } catch (e) {
    throw new Error(`checkpoint ${file}: ${(e as Error).message}`, { cause: e });
  }
  await writeFileAtomic(file, bytes, {
    verify: options.verify
      ? async (tmp) => {
          decodeCheckpoint(await readFileBytes(tmp, 'checkpoint'), tmp);
        }
      : undefined,
  });
  return file;
}

/**
 * Load and validate the checkpoint at `path` (see checkpointFileToRead: a path without the
 * `.safetensors` extension is opened as given when it exists). A missing, truncated or corrupt file, a foreign file and an unsupported format version are
 * errors of the form `checkpoint <file>: <problem>`.
 */
export async function loadCheckpoint<M extends object = CheckpointMeta>(path: string): Promise<LoadedCheckpoint<M>> {
  const file = checkpointFileToRead(path);
  const bytes = await readFileBytes(file, 'checkpoint');
  return decodeCheckpoint<M>(bytes, file);
}
