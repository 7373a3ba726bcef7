export * from './plan';
export * from './sample';
export * from './records';
export * from './output';
export * from './stage';
export * from './work';
export * from './assemble';
export * from './rerun';
