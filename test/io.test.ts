import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

// Pass-through mock so one test can make a write fail part-way (like ENOSPC on a full disk).
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, open: vi.fn(real.open) };
});

import { stringifyStrict, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from '../src/io/atomic.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  SafetensorsError,
  type TensorMap,
} from '../src/io/safetensors.js';
import {
  checkpointFile,
  encodeCheckpoint,
  libraryVersion,
  loadCheckpoint,
  modelTensorName,
  optimTensorName,
  saveCheckpoint,
  splitCheckpointTensors,
} from '../src/io/checkpoint.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'avgk-io-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Files in `d` other than the ones named (temp leftovers would show up here). */
function others(d: string, ...keep: string[]): string[] {
  return readdirSync(d).filter((f) => !keep.includes(f));
}

function freshDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

// ---------------------------------------------------------------------------------------------
describe('writeFileAtomic', () => {
  afterEach(() => {
    vi.mocked(fsp.open).mockClear();
  });

  it('writes strings and bytes, replaces existing files, leaves no temp files', async () => {
    const d = freshDir('atomic-basic');
    const p = join(d, 'out.txt');
    await writeFileAtomic(p, 'héllo');
    expect(readFileSync(p, 'utf8')).toBe('héllo');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(p)]).toEqual([1, 2, 3]);
    writeFileAtomicSync(p, 'sync');
    expect(readFileSync(p, 'utf8')).toBe('sync');
    await writeFileAtomic(p, new Uint8Array(0));
    expect(readFileSync(p).length).toBe(0);
    expect(others(d, 'out.txt')).toEqual([]);
  });

  it('writes large data in several chunks', async () => {
    const d = freshDir('atomic-large');
    const p = join(d, 'big.bin');
    const data = new Uint8Array(3 * (1 << 20) + 12345);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    await writeFileAtomic(p, data);
    expect(Buffer.compare(readFileSync(p), Buffer.from(data))).toBe(0);
  });

  it('keeps the old target and removes the temp file when a write fails part-way (ENOSPC)', async () => {
    const d = freshDir('atomic-enospc');
    const p = join(d, 'model.bin');
    writeFileSync(p, 'previous content');
    const realOpen = (await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises')).open;
    let tempSeen = '';
    vi.mocked(fsp.open).mockImplementationOnce(async (...args: Parameters<typeof realOpen>) => {
      tempSeen = String(args[0]);
      const fh = await realOpen(...args);
      const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
      let calls = 0;
      (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
        if (++calls > 1) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return write(...a);
      };
      return fh;
    });
    const big = new Uint8Array(3 << 20).fill(7);
    const err = await writeFileAtomic(p, big).catch((e: unknown) => e as Error & { code?: string });
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(p);
    expect(err!.message).toContain('ENOSPC');
    expect(err!.code).toBe('ENOSPC');
    // The failure happened after the first chunk reached the temp file: it existed, now it's gone.
    expect(tempSeen.startsWith(join(d, '.model.bin.'))).toBe(true);
    expect(existsSync(tempSeen)).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe('previous content');
    expect(others(d, 'model.bin')).toEqual([]);
  });

  it('keeps the old target when verification of the written temp file fails', async () => {
    const d = freshDir('atomic-verify');
    const p = join(d, 'a.json');
    writeFileSync(p, '{"ok":true}');
    let tmpPath = '';
    await expect(
      writeFileAtomic(p, '{"ok":false}', {
        verify: (tmp) => {
          tmpPath = tmp;
          expect(readFileSync(tmp, 'utf8')).toBe('{"ok":false}');
          throw new Error('verification failed');
        },
      }),
    ).rejects.toThrow(`cannot write ${p}: verification failed`);
    expect(existsSync(tmpPath)).toBe(false);
    expect(readFileSync(p, 'utf8')).toBe('{"ok":true}');
    expect(others(d, 'a.json')).toEqual([]);
  });

  it('cleans up when the rename fails (target is a directory) and names the path', async () => {
    const d = freshDir('atomic-rename');
    const p = join(d, 'target');
    mkdirSync(join(p, 'child'), { recursive: true });
    await expect(writeFileAtomic(p, 'x')).rejects.toThrow(p);
    expect(() => writeFileAtomicSync(p, 'x')).toThrow(p);
    expect(others(d, 'target')).toEqual([]);
    expect(existsSync(join(p, 'child'))).toBe(true);
  });

  it('fails with the path when the directory does not exist', async () => {
    const p = join(dir, 'no-such-dir', 'f.txt');
    await expect(writeFileAtomic(p, 'x')).rejects.toThrow(`cannot write ${p}`);
  });

  it('writeJsonAtomic writes JSON and refuses values JSON would mangle', async () => {
    const d = freshDir('atomic-json');
    const p = join(d, 's.json');
    await writeJsonAtomic(p, { a: 1, b: [true, null, 'x'] });
    expect(JSON.parse(readFileSync(p, 'utf8'))).toEqual({ a: 1, b: [true, null, 'x'] });
    await expect(writeJsonAtomic(p, { metrics: { loss: NaN } })).rejects.toThrow('$.metrics.loss is NaN');
    await expect(writeJsonAtomic(p, { n: 3n })).rejects.toThrow('$.n is a bigint');
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => stringifyStrict(cyc)).toThrow('$.self is a circular reference');
    expect(() => stringifyStrict({ w: new Float32Array(2) })).toThrow('Float32Array');
    expect(JSON.parse(readFileSync(p, 'utf8'))).toEqual({ a: 1, b: [true, null, 'x'] });
    expect(others(d, 's.json')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
/** Build a safetensors file by hand from a header object and a data section. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const text = headerText ?? JSON.stringify(header);
  const json = Buffer.from(text, 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function sampleTensors(): TensorMap {
  return {
    'layer1.weight': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-30, -Infinity]) },
    'layer1.bias': { dtype: 'F32', shape: [3], data: new Float32Array([0.1, 0.2, NaN]) },
    labels: { dtype: 'I32', shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) },
    mask: { dtype: 'U8', shape: [5], data: new Uint8Array([1, 0, 255, 3, 4]) },
    flags: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    scalar: { dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    big: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 40n]) },
    half: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
  };
}

describe('safetensors', () => {
  it('encodes a tiny case to exactly the bytes the spec (and the reference implementation) gives', () => {
    const bytes = encodeSafetensors(
      {
        b: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) },
        a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) },
      },
      { k: 'v' },
    );
    // Tensors are laid out by dtype (F32 before U8, as the Rust serializer sorts them), then name.
    const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}}';
    expect(header.length).toBe(132);
    const padded = header + ' '.repeat(4); // 136 = next multiple of 8
    const expected = [
      ...[136, 0, 0, 0, 0, 0, 0, 0], // u64 LE header length
      ...Buffer.from(padded, 'ascii'),
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0f LE
      ...[0x00, 0x00, 0x00, 0xc0], // -2.0f LE
      ...[7, 8, 9],
    ];
    expect([...bytes]).toEqual(expected);
    expect(bytes.length).toBe(8 + 136 + 11);
  });

  it('encodes without metadata and pads the header with spaces to a multiple of 8', () => {
    const bytes = encodeSafetensors({ x: { dtype: 'I32', shape: [1], data: new Int32Array([-1]) } });
    const header = '{"x":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}';
    const n = Math.ceil(header.length / 8) * 8;
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true))).toBe(n);
    expect(Buffer.from(bytes.subarray(8, 8 + n)).toString('ascii')).toBe(header.padEnd(n, ' '));
    expect([...bytes.subarray(8 + n)]).toEqual([0xff, 0xff, 0xff, 0xff]);
  });

  it('round-trips every supported dtype, scalars, empty tensors and metadata', async () => {
    const t = sampleTensors();
    const bytes = encodeSafetensors(t, { note: 'ünïcode ✓', ...(JSON.parse('{"__proto__":"safe"}') as Record<string, string>) });
    const back = decodeSafetensors(bytes);
    expect(Object.keys(back.tensors).sort()).toEqual(Object.keys(t).sort());
    for (const [name, orig] of Object.entries(t)) {
      const got = back.tensors[name]!;
      expect(got.dtype).toBe(orig.dtype);
      expect(got.shape).toEqual(orig.shape);
      expect(got.data.constructor).toBe(orig.data.constructor);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        Buffer.from(orig.data.buffer, orig.data.byteOffset, orig.data.byteLength),
      );
    }
    expect(back.metadata.note).toBe('ünïcode ✓');
    expect(Object.getOwnPropertyDescriptor(back.metadata, '__proto__')?.value).toBe('safe');
    // Every tensor is aligned to its element size inside the file.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, { dtype: string; data_offsets: number[] }>;
    const size: Record<string, number> = { F32: 4, I32: 4, U8: 1, BOOL: 1, F64: 8, I64: 8, F16: 2 };
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') expect((8 + n + v.data_offsets[0]!) % size[v.dtype]!).toBe(0);

    const p = join(dir, 'round.safetensors');
    await saveSafetensors(p, t, { a: 'b' });
    const loaded = await loadSafetensors(p);
    expect([...(loaded.tensors['layer1.weight']!.data as Float32Array)]).toEqual([1, -2, 3.5, 0, Math.fround(1e-30), -Infinity]);
    expect(loaded.metadata).toEqual({ a: 'b' });
  });

  it('rejects invalid tensors when encoding', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      'tensor "a": shape [3] has 3 elements but data has 2',
    );
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float64Array(2) } as never })).toThrow(
      'dtype F32 needs its data in a Float32Array, got Float64Array',
    );
    expect(() => encodeSafetensors({ a: { dtype: 'F17', shape: [1], data: new Float32Array(1) } as never })).toThrow('unknown dtype "F17"');
    expect(() => encodeSafetensors({ a: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } })).toThrow('invalid dimension -1');
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } })).toThrow('reserved');
    expect(() => encodeSafetensors({}, { a: 1 as never })).toThrow('metadata "a": values must be strings');
  });

  describe('corrupt files', () => {
    const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const cases: [string, Uint8Array, string | RegExp][] = [
      ['empty file', new Uint8Array(0), 'file too short: 0 bytes'],
      ['7 bytes', new Uint8Array(7), 'file too short: 7 bytes'],
      ['header length beyond the file', (() => { const b = rawFile(ok, f32([1, 2])); b[0] = 200; return b; })(), /header length 200 goes beyond the end of the file \(\d+ bytes/],
      ['huge header length', (() => { const b = new Uint8Array(16); b[7] = 0x7f; return b; })(), /header length \d+ goes beyond the end of the file/],
      ['header not JSON', rawFile(null, new Uint8Array(0), '{"a": oops}'), 'header is not valid JSON'],
      ['header not an object', rawFile(null, new Uint8Array(0), '[1, 2, 3]'), 'header is not a JSON object'],
      ['header not UTF-8', (() => { const b = rawFile(null, new Uint8Array(0), '{"a":1}  '); b[10] = 0xff; return b; })(), 'header is not valid UTF-8'],
      ['unknown dtype', rawFile({ a: { dtype: 'F128', shape: [2], data_offsets: [0, 8] } }, f32([1, 2])), 'tensor "a": unknown dtype "F128"'],
      ['missing dtype', rawFile({ a: { shape: [2], data_offsets: [0, 8] } }, f32([1, 2])), 'tensor "a": missing dtype'],
      ['bad shape', rawFile({ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, f32([1, 2])), 'invalid dimension 2.5'],
      ['bad offsets', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, f32([1, 2])), 'data_offsets must be [begin, end]'],
      ['offsets reversed', rawFile({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, f32([1, 2])), 'end before they begin'],
      ['offsets out of range (truncated)', rawFile(ok, f32([1])), 'tensor "a": data_offsets [0, 8] are out of range: the data section has only 4 bytes'],
      ['size does not match shape × dtype', rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32([1, 2])), 'span 8 bytes, but shape [3] × F32 (4 bytes) needs 12'],
      [
        'overlapping tensors',
        rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32([1, 2, 3])),
        'tensor "b" data_offsets [4, 12] overlap tensor "a" [0, 8]',
      ],
      ['gap between tensors', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32([1, 2])), '4 unused bytes in the data section at [0, 4)'],
      ['trailing bytes', rawFile(ok, f32([1, 2, 3])), '4 trailing bytes after the last tensor'],
      ['metadata not strings', rawFile({ __metadata__: { a: 1 } }), '__metadata__ "a" must be a string, got number'],
      ['entry not an object', rawFile({ a: [1, 2] }), 'tensor "a": header entry must be an object'],
    ];
    for (const [name, bytes, message] of cases) {
      it(`${name} → clear error`, () => {
        let caught: unknown;
        try {
          decodeSafetensors(bytes);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(SafetensorsError);
        if (typeof message === 'string') expect((caught as Error).message).toContain(message);
        else expect((caught as Error).message).toMatch(message);
      });
    }

    it('a well-formed hand-built file decodes (the cases above differ from it in one thing)', () => {
      const back = decodeSafetensors(rawFile(ok, f32([1, 2])));
      expect([...(back.tensors.a!.data as Float32Array)]).toEqual([1, 2]);
    });

    it('every cut of a valid file fails with an error, never garbage', () => {
      const good = encodeSafetensors(sampleTensors(), { m: 'x' });
      for (let cut = 0; cut < good.length; cut += 3) {
        expect(() => decodeSafetensors(good.subarray(0, cut))).toThrow(SafetensorsError);
      }
    });
  });

  it('loadSafetensors names the path for missing, unreadable and corrupt files', async () => {
    const missing = join(dir, 'nope.safetensors');
    await expect(loadSafetensors(missing)).rejects.toThrow(`safetensors ${missing}: file not found`);
    await expect(loadSafetensors(dir)).rejects.toThrow(`safetensors ${dir}: is a directory`);
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, 'abc');
    await expect(loadSafetensors(bad)).rejects.toThrow(`safetensors ${bad}: file too short: 3 bytes`);
  });

  it('is readable by Python safetensors (cross-check when python3 + safetensors are installed)', async (ctx) => {
    const probe = spawnSync('python3', ['-c', 'import safetensors, numpy'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.log('[skip] safetensors cross-check: python3 with the `safetensors` and `numpy` packages is not available');
      ctx.skip();
      return;
    }
    const p = join(dir, 'py.safetensors');
    await saveSafetensors(p, sampleTensors(), { who: 'avgk' });
    const script = [
      'import sys, json',
      'from safetensors.numpy import load_file',
      'from safetensors import safe_open',
      't = load_file(sys.argv[1])',
      "meta = safe_open(sys.argv[1], 'np').metadata()",
      "print(json.dumps({'w': t['layer1.weight'].tolist(), 'labels': t['labels'].tolist(), 'shape': list(t['layer1.weight'].shape), 'meta': meta, 'scalar': float(t['scalar'])}))",
    ].join('\n');
    const out = JSON.parse(execFileSync('python3', ['-c', script, p], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(out.shape).toEqual([2, 3]);
    expect(out.labels).toEqual([0, -1, 2147483647, -2147483648]);
    expect(out.meta).toEqual({ who: 'avgk' });
    expect(out.scalar).toBeCloseTo(Math.PI, 12);
  });
});

// ---------------------------------------------------------------------------------------------
describe('checkpoint', () => {
  const tensors = (): TensorMap => ({
    [modelTensorName('fc1.weight')]: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
    [modelTensorName('fc1.bias')]: { dtype: 'F32', shape: [2], data: new Float32Array([0.5, -0.5]) },
    [optimTensorName('fc1.weight', 'm')]: { dtype: 'F32', shape: [2, 2], data: new Float32Array([0.1, 0.2, 0.3, 0.4]) },
    [optimTensorName('fc1.weight', 'v')]: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1e-3, 2e-3, 3e-3, 4e-3]) },
    'rng.state': { dtype: 'U32', shape: [4], data: new Uint32Array([1, 2, 3, 0xffffffff]) },
  });
  const meta = {
    config: { model: 'mlp', hidden: [128, 64], k: 2 },
    epoch: 3,
    step: 1200,
    optimizer: { name: 'adam', hyper: { lr: 1e-3, beta1: 0.9, beta2: 0.999 }, stepCount: 1200 },
    rng: { kind: 'xoshiro128**', state: [1, 2, 3, 4294967295] },
    thresholds: { '1.5': 0.42, '2': 0.137 },
    classNames: ['cat', 'dog', '<script>'],
    metrics: { valLoss: 0.8, valAvgKAcc: 0.91 },
  };

  it('round-trips tensors and meta through one atomically written .safetensors file', async () => {
    const d = freshDir('ckpt');
    const written = await saveCheckpoint(join(d, 'epoch3'), { tensors: tensors(), meta }, { verify: true });
    expect(written).toBe(join(d, 'epoch3.safetensors'));
    expect(readdirSync(d)).toEqual(['epoch3.safetensors']);
    const ck = await loadCheckpoint(join(d, 'epoch3'));
    expect(ck.path).toBe(written);
    const { tensorCrc32, ...rest } = ck.meta;
    expect(rest).toEqual({ ...meta, format: 'avgk-checkpoint', formatVersion: 1, libraryVersion: libraryVersion() });
    expect(Object.keys(tensorCrc32!).sort()).toEqual(Object.keys(tensors()).sort());
    expect(libraryVersion()).toBe(JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')).version);
    expect(ck.meta.thresholds).toEqual({ '1.5': 0.42, '2': 0.137 });
    for (const [name, t] of Object.entries(tensors())) {
      expect(ck.tensors[name]!.shape).toEqual(t.shape);
      expect([...(ck.tensors[name]!.data as Float32Array)]).toEqual([...(t.data as Float32Array)]);
    }
    const split = splitCheckpointTensors(ck.tensors);
    expect(Object.keys(split.model).sort()).toEqual(['fc1.bias', 'fc1.weight']);
    expect(Object.keys(split.optim)).toEqual(['fc1.weight']);
    expect(Object.keys(split.optim['fc1.weight']!).sort()).toEqual(['m', 'v']);
    expect(Object.keys(split.other)).toEqual(['rng.state']);
    // Loading by the full file name works too; saving again replaces the file.
    expect((await loadCheckpoint(written)).meta.epoch).toBe(3);
    await saveCheckpoint(written, { tensors: tensors(), meta: { ...meta, epoch: 4 } });
    expect((await loadCheckpoint(written)).meta.epoch).toBe(4);
    expect(readdirSync(d)).toEqual(['epoch3.safetensors']);
  });

  it('stores the meta as JSON under __metadata__.avgk (readable by other safetensors tools)', () => {
    const bytes = encodeCheckpoint({ tensors: tensors(), meta }, { libraryVersion: '9.9.9' });
    const dec = decodeSafetensors(bytes);
    expect(Object.keys(dec.metadata)).toEqual(['avgk']);
    const m = JSON.parse(dec.metadata.avgk!) as Record<string, unknown>;
    expect(m.format).toBe('avgk-checkpoint');
    expect(m.formatVersion).toBe(1);
    expect(m.libraryVersion).toBe('9.9.9');
    expect(m.step).toBe(1200);
  });

  it('refuses a meta JSON cannot store faithfully, naming the field', async () => {
    await expect(saveCheckpoint(join(dir, 'nan'), { tensors: {}, meta: { metrics: { loss: NaN } } })).rejects.toThrow(
      /checkpoint .*nan\.safetensors: meta cannot be stored: meta\.metrics\.loss is NaN/,
    );
    expect(existsSync(join(dir, 'nan.safetensors'))).toBe(false);
  });

  it('rejects an unsupported format version with the exact message', async () => {
    const p = join(dir, 'v7.safetensors');
    const meta7 = JSON.stringify({ format: 'avgk-checkpoint', formatVersion: 7, libraryVersion: '0.1.0' });
    writeFileSync(p, encodeSafetensors({}, { avgk: meta7 }));
    await expect(loadCheckpoint(p)).rejects.toThrow(`checkpoint ${p}: format version 7 is not supported (expected 1)`);
  });

  it('rejects foreign safetensors files and corrupt meta', async () => {
    const plain = join(dir, 'plain.safetensors');
    writeFileSync(plain, encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }));
    await expect(loadCheckpoint(plain)).rejects.toThrow(`checkpoint ${plain}: not an avgk checkpoint: the safetensors metadata has no "avgk" entry`);
    const other = join(dir, 'other.safetensors');
    writeFileSync(other, encodeSafetensors({}, { avgk: JSON.stringify({ format: 'something-else', formatVersion: 1 }) }));
    await expect(loadCheckpoint(other)).rejects.toThrow('not an avgk checkpoint: format is "something-else"');
    const badJson = join(dir, 'badjson.safetensors');
    writeFileSync(badJson, encodeSafetensors({}, { avgk: '{"format": ' }));
    await expect(loadCheckpoint(badJson)).rejects.toThrow(`checkpoint ${badJson}: corrupt metadata: "avgk" is not valid JSON`);
  });

  it('a truncated or missing checkpoint is a clear error naming the path', async () => {
    const d = freshDir('ckpt-trunc');
    const full = await saveCheckpoint(join(d, 'c'), { tensors: tensors(), meta });
    const bytes = readFileSync(full);
    const cut = join(d, 'cut.safetensors');
    for (const keep of [0, 5, 20, bytes.length - 1, bytes.length - 17]) {
      writeFileSync(cut, bytes.subarray(0, keep));
      await expect(loadCheckpoint(cut)).rejects.toThrow(`checkpoint ${cut}: truncated or corrupt file (`);
    }
    writeFileSync(cut, bytes.subarray(0, bytes.length - 1));
    await expect(loadCheckpoint(cut)).rejects.toThrow(/are out of range: the data section has only \d+ bytes \(file truncated\?\)/);
    const missing = join(d, 'missing');
    await expect(loadCheckpoint(missing)).rejects.toThrow(`checkpoint ${missing}: file not found`);
    await expect(loadCheckpoint('/dev/zero')).rejects.toThrow('checkpoint /dev/zero: not a regular file');
  });

  it('opens a path without the .safetensors extension as given', async () => {
    const d = freshDir('ckpt-bin');
    const bin = join(d, 'model.bin');
    writeFileSync(bin, encodeCheckpoint({ tensors: tensors(), meta }));
    const ck = await loadCheckpoint(bin);
    expect(ck.path).toBe(bin);
    expect(ck.meta.epoch).toBe(3);
  });

  it('verifies the CRC-32 of every tensor; checkpoints without checksums still load', async () => {
    const d = freshDir('ckpt-crc');
    const file = await saveCheckpoint(join(d, 'c'), { tensors: tensors(), meta });
    const bytes = new Uint8Array(readFileSync(file));
    const dec = decodeSafetensors(bytes);
    // flip one exponent bit of the first weight, in place in the file's data section
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const offsets = (JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, { data_offsets?: number[] }>)['model.fc1.weight']!.data_offsets!;
    const flipped = bytes.slice();
    flipped[8 + headerLen + offsets[0]! + 3]! ^= 0x08;
    const bad = join(d, 'flipped.safetensors');
    writeFileSync(bad, flipped);
    await expect(loadCheckpoint(bad)).rejects.toThrow(new RegExp(`^checkpoint ${bad}: corrupt file: tensor model\\.fc1\\.weight does not match its checksum \\(CRC-32 [0-9a-f]{8}, stored [0-9a-f]{8}\\)$`));
    // the same tensors with the checksums removed (a checkpoint of an earlier version) load
    const m = JSON.parse(dec.metadata.avgk!) as Record<string, unknown>;
    delete m.tensorCrc32;
    const old = join(d, 'old.safetensors');
    writeFileSync(old, encodeSafetensors(dec.tensors, { avgk: JSON.stringify(m) }));
    expect((await loadCheckpoint(old)).meta.epoch).toBe(3);
    // a checksum list that does not match the tensors
    const extra = join(d, 'extra.safetensors');
    writeFileSync(extra, encodeSafetensors(dec.tensors, { avgk: JSON.stringify({ ...m, tensorCrc32: { ...(JSON.parse(dec.metadata.avgk!).tensorCrc32), 'model.gone': 1 } }) }));
    await expect(loadCheckpoint(extra)).rejects.toThrow(`checkpoint ${extra}: corrupt file: tensor model.gone is missing`);
  });

  it('checkpointFile and tensor naming helpers', () => {
    expect(checkpointFile('runs/a/best')).toBe('runs/a/best.safetensors');
    expect(checkpointFile('runs/a/best.safetensors')).toBe('runs/a/best.safetensors');
    expect(modelTensorName('conv1.weight')).toBe('model.conv1.weight');
    expect(optimTensorName('conv1.weight', 'momentum')).toBe('optim.conv1.weight.momentum');
    expect(() => optimTensorName('w', 'a.b')).toThrow('slot');
  });
});
