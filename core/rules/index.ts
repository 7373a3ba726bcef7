// Domain rules that workflows run and core, activities and the CLI share: pure and deterministic
// (lint: value imports only from core/rules and config/names), so a workflow may import them.
export * from './construct';
export * from './ids';
export * from './jobs';
export * from './refine';
export * from './refine-chain';
export * from './roles';
export * from './timeouts';
export * from './stage';
export * from './usage';
export * from './dag';
