export * from './tags';
export * from './history';
export * from './builders';
export * from './sft';
export * from './special-tokens';
