export * from './fit.js';
export * from './evaluate.js';
