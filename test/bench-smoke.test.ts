/**
 * Smoke test of the benchmark harness: one tiny case (64×64 SGEMM, one thread, no peers, no time
 * budget) runs and the JSON file it writes is a valid array of records. No timing assertions.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main, parseArgs } from '../bench/run.js';

const dir = mkdtempSync(join(tmpdir(), 'avgk-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench harness', () => {
  it('runs one tiny case and writes valid JSON records', async () => {
    const file = join(dir, 'out.json');
    const code = await main(['--quick', '--no-peers', '--quiet', '--allow-js', '--threads', '1', '--time-scale', '0', '--filter', '^sgemm/square m=64 ', '--json', file]);
    expect(code).toBe(0);
    const records = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    expect(Array.isArray(records)).toBe(true);
    const arr = records as Record<string, unknown>[];
    expect(arr).toHaveLength(1);
    const r = arr[0];
    expect(r.name).toBe('sgemm/square');
    expect(r.shape).toBe('m=64 k=64 n=64 NN');
    expect(r.threads).toBe(1);
    expect(typeof r.seconds).toBe('number');
    expect(r.seconds as number).toBeGreaterThan(0);
    expect(Number.isFinite(r.gflops as number)).toBe(true);
    // written atomically: no temporary file left behind
    expect(readdirSync(dir)).toEqual(['out.json']);
  });

  it('parses the documented options and rejects unknown ones', async () => {
    const o = parseArgs(['--filter', 'conv2d', '--threads', '1,2', '--quick', '--no-peers', '--json', 'x.json']);
    expect(o.filter?.test('conv2d-fwd/conv1')).toBe(true);
    expect(o.threads).toEqual([1, 2]);
    expect(o.quick).toBe(true);
    expect(o.peers).toBe(false);
    expect(o.json).toBe('x.json');
    expect(await main(['--no-such-option'])).toBe(2);
    expect(parseArgs(['--allow-js']).allowJs).toBe(true);
    // rounds: 2 by default (best of two alternating avgk / peer rounds), 1 with --quick, or as given
    expect(o.rounds).toBe(1);
    expect(parseArgs([]).rounds).toBe(2);
    expect(parseArgs(['--rounds', '3', '--quick']).rounds).toBe(3);
    expect(parseArgs(['--resnet-batch', '16,64']).resnetBatch).toEqual([16, 64]);
    expect(parseArgs(['--profile', '--profile-model', 'resnet18']).profileModel).toBe('resnet18');
    expect(() => parseArgs(['--profile-model', 'vgg'])).toThrow(/--profile-model/);
  });
});
