export { Module } from './module.js';
export * from './layers.js';
export * from './init.js';
export * from './models.js';
export * as F from './functional.js';
