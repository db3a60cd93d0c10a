/** native/ops.h is the rendering of the op-code table in src/backend/ops.ts (npm run gen:ops). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Binary, Unary } from '../src/backend/ops.js';
// @ts-expect-error: a plain ES module without types
import { headerPath, renderOpsHeader } from '../scripts/gen-ops.mjs';

describe('op codes', () => {
  it('native/ops.h matches src/backend/ops.ts (run `npm run gen:ops` after changing the table)', () => {
    expect(readFileSync(headerPath as string, 'utf8')).toBe((renderOpsHeader as (u: object, b: object) => string)(Unary, Binary));
  });
  it('codes are dense from 0 and distinct', () => {
    for (const table of [Unary, Binary]) {
      const codes = Object.values(table).sort((a, b) => a - b);
      expect(codes).toEqual(codes.map((_, i) => i));
    }
  });
});
