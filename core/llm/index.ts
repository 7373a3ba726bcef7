export * from './types';
export * from './errors';
export * from './limiter';
export * from './cache';
export * from './usage';
export * from './parse';
export * from './client';
export * from './registry';
