export * from './model';
export * from './knowledge';
export * from './shards';
export * from './assemble';
export * from './dataset';
export * from './stage';
export * from './plan';
export * from './import-dir';
