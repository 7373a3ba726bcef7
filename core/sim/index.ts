import type { R4ecConfig } from '../../config/schema';
import type { SimFaults } from './server';

export * from './catalog';
export * from './recognize';
export * from './answer';
export * from './server';
export { Rng } from './rng';
export { MAX_BATCH_REQUESTS, type SimBatch, type SimBatchOptions } from './batches';
export { MAX_BATCH_FILE_BYTES } from './files';

/** Faults from the `llm.simulator` config section (or the `sim-llm` flags mapped onto it). */
export function simulatorFaults(sim: R4ecConfig['llm']['simulator']): SimFaults {
  return {
    latencyMs: sim.latencyMs,
    malformedRate: sim.malformedRate,
    rateLimitRate: sim.rateLimitRate,
    serverErrorRate: sim.serverErrorRate,
    retryAfterSeconds: sim.retryAfterSeconds,
  };
}
