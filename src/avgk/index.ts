export * from './losses.js';
export * from './pseudo-labels.js';
export * from './calibrate.js';
export * from './metrics.js';
export * from './model.js';
