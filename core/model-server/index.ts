export { EngineRequestError, ModelEngine, type EngineOptions, type GenerateAnswer, type GenerateRequest } from './engine';
export { MODEL_SERVER_OWNER, startModelServer, type ModelServerOptions, type RunningModelServer } from './server';
export { baseModelName, DEFAULT_BASE, servedBaseDir } from './base';
