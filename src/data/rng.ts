/** The seeded generator lives with the tensors (src/tensor/rng.ts); the data layer uses it from there. */
export * from '../tensor/rng.js';
