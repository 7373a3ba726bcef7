export * from './errors';
export * from './jobs';
export * from './sft';
export * from './authors';
export * from './registry';
export * from './local-job';
export * from './openai-job';
export * from './base-model';
