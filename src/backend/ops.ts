/**
 * The op codes of the elementwise kernels: the one table that the TypeScript backends read and
 * that `npm run gen:ops` (scripts/gen-ops.mjs) renders into native/ops.h for the C++ and CUDA
 * addons. A test fails when the header is not the rendering of this table.
 */

/** Elementwise unary ops. */
export const Unary = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  relu: 4,
  sigmoid: 5,
  tanh: 6,
  abs: 7,
  /** x^p, p is the kernel's scalar parameter */
  pow: 8,
  /** a*x + b with (a, b) = (p, q), the kernel's two scalar parameters */
  affine: 9,
  /** min(max(x, p), q), NaN passes through; the gradient flows where p ≤ x ≤ q */
  clamp: 10,
} as const;
export type UnaryOp = (typeof Unary)[keyof typeof Unary];

/** Elementwise binary ops with broadcasting through strides. */
export const Binary = {
  add: 0,
  sub: 1,
  mul: 2,
  div: 3,
  /** NaN in either operand propagates */
  max: 4,
  min: 5,
  /** 1 where a ≥ b, else 0 (0 when either is NaN) */
  ge: 6,
} as const;
export type BinaryOp = (typeof Binary)[keyof typeof Binary];
