export * from './metrics';
export * from './score';
export * from './jobs';
export * from './runner';
