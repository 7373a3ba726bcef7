export * from './checkpoint-store';
export * from './devices';
export * from './events';
export * from './files';
export * from './python';
export * from './run';
