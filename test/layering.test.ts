/**
 * The folders of src/ are layers, lowest first; no module imports from a layer above its own.
 * The one exception: the Tensor class's methods (src/tensor/tensor.ts) are thin entry points to the
 * autograd ops, as in PyTorch's one user-facing Tensor.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPackageRoot } from '../src/io/package.js';

const LAYERS = ['errors.ts', 'backend', 'io', 'tensor', 'autograd', 'nn', 'optim', 'data', 'avgk', 'train', 'report', 'cli', 'index.ts'];
const EXCEPTIONS = new Set(['tensor/tensor.ts -> autograd']);

const src = join(findPackageRoot() ?? process.cwd(), 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(pathInSrc: string): number {
  const top = pathInSrc.split('/')[0]!;
  const i = LAYERS.indexOf(top);
  if (i < 0) throw new Error(`src/${pathInSrc}: folder "${top}" is not in the layer list of test/layering.test.ts`);
  return i;
}

describe('layering', () => {
  it('no module imports from a layer above its own', () => {
    const bad: string[] = [];
    for (const f of files(src)) {
      const rel = relative(src, f);
      const from = layerOf(rel);
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*from\s+'(\.[^']+)'/g)) {
        const target = relative(src, join(f, '..', m[1]!)).replace(/\.js$/, '.ts');
        if (target.startsWith('..')) continue;
        const to = layerOf(target);
        const top = target.split('/')[0];
        if (to > from && !EXCEPTIONS.has(`${rel} -> ${top}`)) bad.push(`src/${rel} imports src/${target} (${LAYERS[from]} is below ${LAYERS[to]})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
