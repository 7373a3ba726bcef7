export * from './metrics';
export * from './score';
export * from './jobs';
export * from './errors';
export * from './stage';
export * from './train-model';
