/**
 * Files named on the command line are checked before they are read: JSON arguments
 * (--dataset-config @file, compare --config) and CIFAR .bin files must be regular files of a
 * bounded size, so /dev/zero or a huge sparse file is a quick usage error, not unbounded memory.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from './helpers/cli.js';
import { MAX_JSON_FILE_BYTES } from '../src/cli/common.js';
import { CIFAR_PIXELS, readCifarBinary } from '../src/data/cifar.js';
import { expectUsage } from './helpers/expect.js';

const tmp = mkdtempSync(join(tmpdir(), 'avgk-input-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cli = (argv: string[]) => runCliCaptured(argv, { cwd: tmp, env: { AVGK_BACKEND: 'js' } });

/** A sparse file of `size` bytes (all zero). */
function sparse(name: string, size: number): string {
  const file = join(tmp, name);
  const fd = openSync(file, 'w');
  writeSync(fd, Buffer.alloc(1), 0, 1, size - 1);
  closeSync(fd);
  return file;
}

const BIG = 20 * 2 ** 20;

describe('JSON files given on the command line', () => {
  beforeAll(() => sparse('big.json', BIG));

  it('--dataset-config @/dev/zero and a 20 MiB file are refused before they are read', async () => {
    expectUsage(await cli(['train', '--dataset-config', '@/dev/zero', '--out', 'r1']), /^avgk: error: --dataset-config \/dev\/zero: is not a regular file, expected a JSON file$/);
    expectUsage(
      await cli(['train', '--dataset-config', '@big.json', '--out', 'r2']),
      new RegExp(`^avgk: error: --dataset-config big\\.json: ${BIG} bytes, more than the ${MAX_JSON_FILE_BYTES} a JSON file may hold$`),
    );
    // a path without @ is read the same way
    expectUsage(await cli(['train', '--dataset-config', 'big.json', '--out', 'r3']), new RegExp(`--dataset-config big\\.json: ${BIG} bytes`));
    expectUsage(await cli(['train', '--dataset-config', '@nope.json', '--out', 'r4']), /^avgk: error: --dataset-config nope\.json: no such file$/);
  });

  it('compare --config /dev/zero and a 20 MiB file are refused before they are read', async () => {
    expectUsage(await cli(['compare', '--config', '/dev/zero', '--out', 'c1']), /^avgk: error: --config \/dev\/zero: is not a regular file, expected a JSON file$/);
    expectUsage(await cli(['compare', '--config', 'big.json', '--out', 'c2']), new RegExp(`^avgk: error: --config big\\.json: ${BIG} bytes, more than the ${MAX_JSON_FILE_BYTES}`));
  });

  it('a JSON file within the bound is still read (BOM removed)', async () => {
    writeFileSync(join(tmp, 'bad-name.json'), '\ufeff{"name": "no-such-dataset"}');
    const r = await cli(['train', '--dataset-config', '@bad-name.json', '--out', 'r5']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no-such-dataset/);
    expect(r.err).not.toMatch(/invalid JSON/);
  });
});

describe('CIFAR .bin files', () => {
  const rec = 1 + CIFAR_PIXELS;
  const d10 = join(tmp, 'cifar-10-batches-bin');
  const records = (n: number) => {
    const b = Buffer.alloc(n * rec);
    for (let i = 0; i < n; i++) b[i * rec] = i % 10;
    return b;
  };
  beforeAll(() => {
    mkdirSync(d10);
    for (let b = 1; b <= 5; b++) writeFileSync(join(d10, `data_batch_${b}.bin`), records(4));
    writeFileSync(join(d10, 'test_batch.bin'), records(3));
    writeFileSync(join(tmp, 'truncated.bin'), records(2).subarray(0, 2 * rec - 1));
    symlinkSync('/dev/zero', join(tmp, 'zero.bin'));
  });

  it('are checked before they are read: regular, a positive multiple of the record, bounded', () => {
    expect(() => readCifarBinary(join(tmp, 'zero.bin'), { labelBytes: 1 })).toThrow(`${join(tmp, 'zero.bin')}: not a regular file (a device, FIFO or socket)`);
    expect(() => readCifarBinary(join(tmp, 'truncated.bin'), { labelBytes: 1 })).toThrow(`size ${2 * rec - 1} bytes is not a multiple of the ${rec}-byte record size`);
    // 2 GiB of sparse records: more than the memory given, and than a CIFAR file may hold
    const n = Math.ceil(2 ** 31 / rec);
    const huge = sparse('huge.bin', n * rec);
    expect(() => readCifarBinary(huge, { labelBytes: 1, memory: 2 ** 32 })).toThrow(/698824 records need about 1[0-9.]+ GB \(file, pixels and their float32 copy\), more than this machine's 4\.29 GB/);
    expect(() => readCifarBinary(huge, { labelBytes: 1, memory: 2 ** 40 })).toThrow(`${huge}: ${n * rec} bytes, more than the 2147483648 a CIFAR file may hold`);
  });

  it('avgk predict --input: a truncated record and /dev/zero are one usage error', async () => {
    const t = await cli(['train', '--dataset', 'cifar10', '--data-dir', d10, '--dataset-config', '{"valSize": 5}', '--hidden', '4', '--epochs', '1', '--batch-size', '8', '--out', 'cifar-run', '-q', '--no-report']);
    expect(t.code, t.err).toBe(0);
    const truncated = await cli(['predict', '--checkpoint', 'cifar-run/checkpoint.safetensors', '--input', 'truncated.bin', '--out', 'p1.jsonl']);
    expectUsage(truncated, new RegExp(`^avgk: error: --input truncated\\.bin: truncated\\.bin: size ${2 * rec - 1} bytes is not a multiple of the ${rec}-byte record size`));
    const zero = await cli(['predict', '--checkpoint', 'cifar-run/checkpoint.safetensors', '--input', 'zero.bin', '--out', 'p2.jsonl']);
    expectUsage(zero, /^avgk: error: --input zero\.bin: zero\.bin: not a regular file \(a device, FIFO or socket\)/);
  }, 60_000);

  it('the CIFAR loaders refuse a device in place of a batch', async () => {
    const dz = join(tmp, 'zero-batches');
    mkdirSync(dz);
    for (let b = 1; b <= 5; b++) writeFileSync(join(dz, `data_batch_${b}.bin`), records(4));
    writeFileSync(join(dz, 'test_batch.bin'), records(3));
    rmSync(join(dz, 'data_batch_3.bin'));
    symlinkSync('/dev/zero', join(dz, 'data_batch_3.bin'));
    const r = await cli(['train', '--dataset', 'cifar10', '--data-dir', dz, '--hidden', '4', '--epochs', '1', '--out', 'zero-run', '-q', '--no-report']);
    expectUsage(r, /data_batch_3\.bin: not a regular file \(a device, FIFO or socket\), expected CIFAR binary records/);
  });
});
