export * from './errors';
export * from './record';
export * from './entities';
export * from './budget';
export * from './plan';
export * from './assemble';
export * from './rerun';
export * from './stage';
