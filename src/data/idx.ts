/**
 * IDX files (the MNIST "ubyte" format): magic = 0x00 0x00 <type> <ndims>, then ndims big-endian
 * uint32 dimensions, then the data, big-endian. Types: 0x08 uint8, 0x09 int8, 0x0B int16,
 * 0x0C int32, 0x0D float32, 0x0E float64. Gzipped files (.gz, or gzip magic) are inflated.
 */
import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { writeFileAtomic } from './cache.js';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: IdxDtype;
  shape: number[];
  data: IdxData;
}

const CODES: Record<number, IdxDtype> = { 0x08: 'uint8', 0x09: 'int8', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };
const CODE_OF: Record<IdxDtype, number> = { uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e };
/** Bytes per element of each IDX dtype. */
export const IDX_DTYPE_BYTES: Readonly<Record<IdxDtype, number>> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };
const BYTES = IDX_DTYPE_BYTES;

/** Parses IDX bytes (`name` is only used in error messages; `headerOnly`: dtype and shape, no data). */
export function parseIdx(bytes: Uint8Array, name = '<buffer>', headerOnly = false): IdxArray {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  if (buf.length < 4) throw new Error(`${name}: not an IDX file (${buf.length} bytes)`);
  if (buf[0] !== 0 || buf[1] !== 0) throw new Error(`${name}: not an IDX file (bad magic ${buf.readUInt32BE(0).toString(16)})`);
  const dtype = CODES[buf[2]];
  if (!dtype) throw new Error(`${name}: unknown IDX data type 0x${buf[2].toString(16)}`);
  const ndim = buf[3];
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen) throw new Error(`${name}: truncated IDX header (${buf.length} bytes, need ${headerLen})`);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = buf.readUInt32BE(4 + 4 * i);
    shape.push(d);
    count *= d;
  }
  const bpe = BYTES[dtype];
  const expected = headerLen + count * bpe;
  if (headerOnly) return { dtype, shape, data: new Uint8Array(0) };
  if (buf.length !== expected) {
    throw new Error(`${name}: IDX size mismatch: ${buf.length} bytes, header [${shape.join(', ')}] ${dtype} needs ${expected}`);
  }
  let data: IdxData;
  switch (dtype) {
    case 'uint8':
      data = Uint8Array.from(buf.subarray(headerLen));
      break;
    case 'int8':
      data = Int8Array.from(buf.subarray(headerLen), (v) => (v << 24) >> 24);
      break;
    default: {
      const dv = new DataView(buf.buffer, buf.byteOffset + headerLen, count * bpe);
      if (dtype === 'int16') {
        const a = new Int16Array(count);
        for (let i = 0; i < count; i++) a[i] = dv.getInt16(2 * i, false);
        data = a;
      } else if (dtype === 'int32') {
        const a = new Int32Array(count);
        for (let i = 0; i < count; i++) a[i] = dv.getInt32(4 * i, false);
        data = a;
      } else if (dtype === 'float32') {
        const a = new Float32Array(count);
        for (let i = 0; i < count; i++) a[i] = dv.getFloat32(4 * i, false);
        data = a;
      } else {
        const a = new Float64Array(count);
        for (let i = 0; i < count; i++) a[i] = dv.getFloat64(8 * i, false);
        data = a;
      }
    }
  }
  return { dtype, shape, data };
}

/** The most bytes an IDX file (or a gzipped one's content) may hold: 2 GiB. */
export const MAX_IDX_BYTES = 2 ** 31;

/**
 * Reads up to `n` bytes from `fd` (fewer at the end of the file), in chunks of at most 16 MiB,
 * so that memory grows with what was read, not with what was asked for.
 */
function readBytes(fd: number, n: number): Buffer {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const chunk = Buffer.allocUnsafe(Math.min(n - got, 1 << 24));
    let filled = 0;
    while (filled < chunk.length) {
      const r = fs.readSync(fd, chunk, filled, chunk.length - filled, null);
      if (r === 0) break;
      filled += r;
    }
    chunks.push(filled === chunk.length ? chunk : chunk.subarray(0, filled));
    got += filled;
    if (filled < chunk.length) break;
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, got);
}

function openIdx(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `IDX file not found: ${file}` : `cannot read IDX file ${file}: ${(e as Error).message}`);
  }
}

/**
 * The dtype and shape an IDX file's header declares, read without its data; null for a gzipped
 * file (its header is known only once inflated). Errors as readIdx's for a malformed header.
 */
export function readIdxHeader(file: string): { dtype: IdxDtype; shape: number[] } | null {
  const fd = openIdx(file);
  try {
    if (fs.fstatSync(fd).isDirectory()) throw new Error(`cannot read IDX file ${file}: is a directory`);
    const magic = readBytes(fd, 4);
    if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return null;
    const header = magic.length < 4 ? magic : Buffer.concat([magic, readBytes(fd, 4 * magic[3]!)]);
    const { dtype, shape } = parseIdx(header, file, true);
    return { dtype, shape };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads an IDX file (optionally gzipped). The header's declared size is checked against the
 * file's size before the data are read, and no more than the declared bytes (at most
 * MAX_IDX_BYTES) are read, so a forged header or a device such as /dev/zero is a quick error.
 */
export function readIdx(file: string): IdxArray {
  const fd = openIdx(file);
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new Error(`cannot read IDX file ${file}: is a directory`);
    const size = st.isFile() ? st.size : null;
    const magic = readBytes(fd, 4);
    if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      if (size !== null && size > MAX_IDX_BYTES) throw new Error(`${file}: ${size} bytes, more than the ${MAX_IDX_BYTES} an IDX file may hold`);
      const gz = Buffer.concat([magic, readBytes(fd, MAX_IDX_BYTES + 1 - magic.length)]);
      if (gz.length > MAX_IDX_BYTES) throw new Error(`${file}: more than the ${MAX_IDX_BYTES} bytes an IDX file may hold`);
      let raw: Buffer;
      try {
        raw = gunzipSync(gz, { maxOutputLength: MAX_IDX_BYTES });
      } catch (e) {
        throw new Error(`${file}: cannot inflate (${(e as Error).message}; at most ${MAX_IDX_BYTES} bytes)`);
      }
      return parseIdx(raw, file);
    }
    if (magic.length < 4) return parseIdx(magic, file);
    const headerLen = 4 + 4 * magic[3]!;
    const dims = readBytes(fd, headerLen - 4);
    const header = Buffer.concat([magic, dims]);
    if (header.length < headerLen || CODES[magic[2]!] === undefined || magic[0] !== 0 || magic[1] !== 0) return parseIdx(header, file);
    const shape: number[] = [];
    let count = 1;
    for (let i = 0; i < magic[3]!; i++) {
      shape.push(header.readUInt32BE(4 + 4 * i));
      count *= shape[i]!;
    }
    const dtype = CODES[magic[2]!]!;
    const expected = headerLen + count * BYTES[dtype];
    if (size !== null && size !== expected) {
      throw new Error(`${file}: IDX size mismatch: ${size} bytes, header [${shape.join(', ')}] ${dtype} needs ${expected}`);
    }
    if (expected > MAX_IDX_BYTES) throw new Error(`${file}: header [${shape.join(', ')}] ${dtype} declares ${expected} bytes, more than the ${MAX_IDX_BYTES} an IDX file may hold`);
    const data = readBytes(fd, expected - headerLen);
    if (data.length < expected - headerLen) {
      throw new Error(`${file}: IDX size mismatch: ${headerLen + data.length} bytes, header [${shape.join(', ')}] ${dtype} needs ${expected}`);
    }
    if (size === null && readBytes(fd, 1).length > 0) throw new Error(`${file}: more data than the header [${shape.join(', ')}] ${dtype} declares (${expected} bytes)`);
    return parseIdx(Buffer.concat([header, data]), file);
  } finally {
    fs.closeSync(fd);
  }
}

function dtypeOf(data: IdxData): IdxDtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/**
 * Encodes to IDX bytes; the dtype is taken from `arr.dtype` or inferred from the typed array.
 * (Typed as Uint8Array, not Buffer, so that the public types need no @types/node.)
 */
export function encodeIdx(arr: { shape: readonly number[]; data: IdxData; dtype?: IdxDtype }): Uint8Array {
  const dtype = arr.dtype ?? dtypeOf(arr.data);
  if (dtypeOf(arr.data) !== dtype && !(dtype === 'uint8' && arr.data instanceof Uint8Array)) {
    throw new Error(`encodeIdx: data is ${dtypeOf(arr.data)}, dtype says ${dtype}`);
  }
  if (arr.shape.length > 255) throw new Error('encodeIdx: at most 255 dimensions');
  let count = 1;
  for (const d of arr.shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new Error(`encodeIdx: bad dimension ${d}`);
    count *= d;
  }
  if (count !== arr.data.length) throw new Error(`encodeIdx: shape [${arr.shape.join(', ')}] holds ${count} values, data has ${arr.data.length}`);
  const bpe = BYTES[dtype];
  const headerLen = 4 + 4 * arr.shape.length;
  const buf = Buffer.alloc(headerLen + count * bpe);
  buf[2] = CODE_OF[dtype];
  buf[3] = arr.shape.length;
  arr.shape.forEach((d, i) => buf.writeUInt32BE(d, 4 + 4 * i));
  const dv = new DataView(buf.buffer, buf.byteOffset + headerLen, count * bpe);
  const d = arr.data;
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case 'uint8':
        dv.setUint8(i, d[i]);
        break;
      case 'int8':
        dv.setInt8(i, d[i]);
        break;
      case 'int16':
        dv.setInt16(2 * i, d[i], false);
        break;
      case 'int32':
        dv.setInt32(4 * i, d[i], false);
        break;
      case 'float32':
        dv.setFloat32(4 * i, d[i], false);
        break;
      case 'float64':
        dv.setFloat64(8 * i, d[i], false);
        break;
    }
  }
  return buf;
}

/** Writes an IDX file atomically (not gzipped). */
export function writeIdx(file: string, arr: { shape: readonly number[]; data: IdxData; dtype?: IdxDtype }): void {
  writeFileAtomic(file, [encodeIdx(arr)]);
}
