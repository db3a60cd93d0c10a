export * from './atomic.js';
export * from './safetensors.js';
export * from './checkpoint.js';
