/**
 * The safetensors file format (https://github.com/huggingface/safetensors), readable by
 * `safetensors.torch.load_file` / `safetensors.numpy.load_file`.
 *
 * Layout:
 *   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
 *   bytes [8, 8+N)      UTF-8 JSON header, padded with spaces so that N is a multiple of 8:
 *                         {"__metadata__": {string: string},                (optional)
 *                          "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 *   bytes [8+N, end)    the data section; each tensor's row-major little-endian bytes lie at
 *                       [begin, end) relative to the data section start. The tensors tile the data
 *                       section exactly: no gaps, no overlaps, no trailing bytes.
 *
 * The encoder orders tensors like the reference Rust implementation (dtype descending, then name),
 * which also keeps every tensor aligned to its element size, and so writes the same bytes as
 * `safetensors.torch.save_file` for the same tensors (given the same metadata key order).
 */
import { CheckpointError } from '../errors.js';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic, type AtomicWriteOptions } from './atomic.js';

/** Dtypes in the reference implementation's enum order (the encoder sorts by it, descending). */
export const DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
] as const;
export type Dtype = (typeof DTYPES)[number];

/** The typed array holding each dtype's elements. F16, BF16 and F8 are kept as raw bit patterns. */
export interface DtypeArrays {
  BOOL: Uint8Array;
  U8: Uint8Array;
  I8: Int8Array;
  F8_E5M2: Uint8Array;
  F8_E4M3: Uint8Array;
  I16: Int16Array;
  U16: Uint16Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I32: Int32Array;
  U32: Uint32Array;
  F32: Float32Array;
  F64: Float64Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
}

/** One tensor: dtype, shape (row-major; [] is a scalar) and its elements. */
export type SafeTensor = {
  [D in Dtype]: { dtype: D; shape: readonly number[]; data: DtypeArrays[D] };
}[Dtype];

export type TensorMap = Record<string, SafeTensor>;

export interface DecodedSafetensors {
  /** Tensors by name, in data-section order. A null-prototype object: any name is safe as a key. */
  tensors: TensorMap;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

/** Thrown for malformed safetensors data or invalid tensors to encode. */
/** A malformed safetensors file (a CheckpointError: code ERR_AVGK_CHECKPOINT). */
export class SafetensorsError extends CheckpointError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

type TypedCtor = {
  new (length: number): DtypeArrays[Dtype];
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

const CTOR: Record<Dtype, TypedCtor> = {
  BOOL: Uint8Array,
  U8: Uint8Array,
  I8: Int8Array,
  F8_E5M2: Uint8Array,
  F8_E4M3: Uint8Array,
  I16: Int16Array,
  U16: Uint16Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  U32: Uint32Array,
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  U64: BigUint64Array,
};

const DTYPE_RANK = new Map<string, number>(DTYPES.map((d, i) => [d, i]));

/** Bytes per element of a dtype. */
export function dtypeSize(dtype: Dtype): number {
  return CTOR[dtype].BYTES_PER_ELEMENT;
}

export function isDtype(x: unknown): x is Dtype {
  return typeof x === 'string' && DTYPE_RANK.has(x);
}

/** Same cap as the reference implementation, so a garbage length cannot make us allocate GBs. */
export const MAX_HEADER_BYTES = 100_000_000;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fmtName(name: string): string {
  return JSON.stringify(name);
}

function checkShape(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw new SafetensorsError(`${what}: shape must be an array of integers, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(`${what}: shape ${JSON.stringify(shape)} has an invalid dimension ${JSON.stringify(d)} (need integers >= 0)`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) throw new SafetensorsError(`${what}: shape ${JSON.stringify(shape)} has too many elements`);
  }
  return n;
}

/** Bytes of a typed array's elements in little-endian order (a view when the host is LE). */
function leBytes(data: ArrayBufferView, elemSize: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LE || elemSize === 1) return view;
  const out = new Uint8Array(view.length);
  for (let i = 0; i < view.length; i += elemSize) for (let j = 0; j < elemSize; j++) out[i + j] = view[i + elemSize - 1 - j]!;
  return out;
}

function compareNames(a: string, b: string): number {
  // Byte-wise UTF-8 order, as Rust's String ordering.
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Encode tensors (and optional string metadata) into safetensors bytes. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Uint8Array {
  if (tensors === null || typeof tensors !== 'object') throw new SafetensorsError('tensors must be an object mapping names to tensors');
  const entries: { name: string; t: SafeTensor; size: number }[] = [];
  for (const name of Object.keys(tensors)) {
    const what = `tensor ${fmtName(name)}`;
    if (name === '__metadata__') throw new SafetensorsError(`tensor name "__metadata__" is reserved by the format`);
    const t = tensors[name] as SafeTensor | undefined;
    if (!t || typeof t !== 'object') throw new SafetensorsError(`${what}: expected {dtype, shape, data}, got ${String(t)}`);
    if (!isDtype(t.dtype)) throw new SafetensorsError(`${what}: unknown dtype ${JSON.stringify(t.dtype)} (known: ${DTYPES.join(', ')})`);
    const ctor = CTOR[t.dtype];
    if (!(t.data instanceof ctor)) {
      const got = ArrayBuffer.isView(t.data) ? t.data.constructor.name : typeof t.data;
      throw new SafetensorsError(`${what}: dtype ${t.dtype} needs its data in a ${ctor.name}, got ${got}`);
    }
    const n = checkShape(t.shape, what);
    if (t.data.length !== n) {
      throw new SafetensorsError(`${what}: shape ${JSON.stringify(t.shape)} has ${n} elements but data has ${t.data.length}`);
    }
    entries.push({ name, t, size: n * ctor.BYTES_PER_ELEMENT });
  }
  entries.sort((a, b) => DTYPE_RANK.get(b.t.dtype)! - DTYPE_RANK.get(a.t.dtype)! || compareNames(a.name, b.name));

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw new SafetensorsError('metadata must be an object mapping strings to strings');
    }
    const meta = Object.create(null) as Record<string, string>; // "__proto__" stays an own key
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`metadata ${fmtName(k)}: values must be strings, got ${typeof v}`);
      meta[k] = v;
    }
    // defineProperty: a "__proto__" key must stay an own property.
    Object.defineProperty(header, '__metadata__', { value: meta, enumerable: true, writable: true, configurable: true });
  }
  let offset = 0;
  for (const e of entries) {
    const info = { dtype: e.t.dtype, shape: [...e.t.shape], data_offsets: [offset, offset + e.size] };
    Object.defineProperty(header, e.name, { value: info, enumerable: true, writable: true, configurable: true });
    offset += e.size;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new SafetensorsError(`header is ${padded} bytes, over the format's limit of ${MAX_HEADER_BYTES}`);

  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let pos = 8 + padded;
  for (const e of entries) {
    out.set(leBytes(e.t.data, dtypeSize(e.t.dtype)), pos);
    pos += e.size;
  }
  return out;
}

function err(msg: string): SafetensorsError {
  return new SafetensorsError(msg);
}

/** Decode and validate safetensors bytes. Every tensor's data is copied into a fresh typed array. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (!(bytes instanceof Uint8Array)) throw err('expected the file content as a Uint8Array');
  if (bytes.length < 8) {
    throw err(`file too short: ${bytes.length} bytes, but the 8-byte header length alone needs 8 (truncated or not a safetensors file)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  const available = BigInt(bytes.length - 8);
  if (n64 > available) {
    throw err(`header length ${n64} goes beyond the end of the file (${bytes.length} bytes, so at most ${available}); truncated or not a safetensors file`);
  }
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw err(`header length ${n64} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes`);
  const n = Number(n64);
  if (n < 2) throw err(`header length ${n} is too small to hold a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw err('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw err(`header is not a JSON object: it starts with ${JSON.stringify(text.slice(0, 16))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw err(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw err('header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  type Entry = { name: string; dtype: Dtype; shape: number[]; begin: number; end: number };
  const entries: Entry[] = [];

  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw err('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw err(`__metadata__ ${fmtName(k)} must be a string, got ${v === null ? 'null' : typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor ${fmtName(name)}`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw err(`${what}: header entry must be an object {dtype, shape, data_offsets}`);
    const info = value as Record<string, unknown>;
    if (!('dtype' in info)) throw err(`${what}: missing dtype`);
    if (!isDtype(info.dtype)) throw err(`${what}: unknown dtype ${JSON.stringify(info.dtype)} (known: ${DTYPES.join(', ')})`);
    if (!('shape' in info)) throw err(`${what}: missing shape`);
    const count = checkShape(info.shape, what);
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      throw err(`${what}: data_offsets must be [begin, end] with integers >= 0, got ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (end < begin) throw err(`${what}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      throw err(`${what}: data_offsets [${begin}, ${end}] are out of range: the data section has only ${dataLen} bytes (file truncated?)`);
    }
    const want = count * dtypeSize(info.dtype);
    if (end - begin !== want) {
      throw err(`${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes, but shape ${JSON.stringify(info.shape)} × ${info.dtype} (${dtypeSize(info.dtype)} bytes) needs ${want}`);
    }
    entries.push({ name, dtype: info.dtype, shape: info.shape as number[], begin, end });
  }

  // The tensors must tile [0, dataLen) exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor) {
      throw err(`tensor ${fmtName(e.name)} data_offsets [${e.begin}, ${e.end}] overlap tensor ${fmtName(prev!.name)} [${prev!.begin}, ${prev!.end}]`);
    }
    if (e.begin > cursor) {
      throw err(`${e.begin - cursor} unused bytes in the data section at [${cursor}, ${e.begin}) before tensor ${fmtName(e.name)}`);
    }
    cursor = e.end;
    if (e.end > e.begin || !prev) prev = e;
  }
  if (cursor < dataLen) throw err(`${dataLen - cursor} trailing bytes after the last tensor (data section is ${dataLen} bytes, tensors end at ${cursor})`);

  const tensors = Object.create(null) as TensorMap;
  for (const e of sorted) {
    const ctor = CTOR[e.dtype];
    const size = ctor.BYTES_PER_ELEMENT;
    const out = new ctor((e.end - e.begin) / size);
    const dst = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    dst.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    if (!HOST_LE && size > 1) dst.set(leBytes(out, size));
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: out } as SafeTensor;
  }
  return { tensors, metadata };
}

/** Encode and write atomically. */
export async function saveSafetensors(
  path: string,
  tensors: TensorMap,
  metadata?: Record<string, string>,
  options?: AtomicWriteOptions,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = encodeSafetensors(tensors, metadata);
  } catch (e) {
    throw new SafetensorsError(`safetensors ${path}: ${(e as Error).message}`, { cause: e });
  }
  await writeFileAtomic(path, bytes, options);
}

/**
 * Read a file's bytes; a missing or unreadable file is an error naming the path. Only regular
 * files are read (a device such as /dev/zero or a pipe would never end).
 */
export async function readFileBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    // directories fall through to readFile's EISDIR
    if (!st.isFile() && !st.isDirectory()) throw new Error(`${what} ${path}: not a regular file`);
    return await readFile(path);
  } catch (e) {
    if ((e as Error).message.startsWith(`${what} ${path}: `)) throw e;
    const code = (e as { code?: string }).code;
    const why =
      code === 'ENOENT' ? 'file not found' :
      code === 'EISDIR' ? 'is a directory, not a file' :
      code === 'EACCES' || code === 'EPERM' ? 'permission denied' :
      `cannot read: ${(e as Error).message}`;
    const out = new Error(`${what} ${path}: ${why}`, { cause: e }) as Error & { code?: string };
    if (code) out.code = code;
    throw out;
  }
}

/** Read and decode a safetensors file; every error names the path. */
export async function loadSafetensors(path: string): Promise<DecodedSafetensors> {
  const bytes = await readFileBytes(path, 'safetensors');
  try {
    return decodeSafetensors(bytes);
  } catch (e) {
    throw new SafetensorsError(`safetensors ${path}: ${(e as Error).message}`, { cause: e });
  }
}
