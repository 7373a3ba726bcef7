export * from './plan';
export * from './sample';
export * from './records';
export * from './output';
