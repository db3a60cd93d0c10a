/**
 * Files named on the command line are checked before they are read: JSON arguments
 * (--dataset-config @file, compare --config) must be regular files of a bounded size, so
 * /dev/zero or a huge sparse file is a quick usage error, not unbounded memory.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { MAX_JSON_FILE_BYTES } from '../src/cli/common.js';
import { expectUsage } from './helpers/expect.js';

const tmp = mkdtempSync(join(tmpdir(), 'avgk-input-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function sink() {
  const s = { text: '', isTTY: false, write: (c: string) => ((s.text += c), true) };
  return s;
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await runCli(argv, { stdout: out, stderr: err, cwd: tmp, env: { AVGK_BACKEND: 'js' } });
  return { code, out: out.text, err: err.text };
}

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
