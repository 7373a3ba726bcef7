export * from './events';
export * from './files';
export * from './python';
export * from './run';
