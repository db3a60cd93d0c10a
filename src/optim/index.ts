export * from './optimizer.js';
export * from './schedule.js';
export * from './ema.js';
