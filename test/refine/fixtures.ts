// The refine tests' config: small windows and pages, quick transport retries.
import { R4ecConfigSchema, type R4ecConfig, type R4ecConfigInput } from '../../config/schema';

/** Test config: small windows and pages, quick transport retries. */
export function refineConfig(over: R4ecConfigInput = {}): R4ecConfig {
  return R4ecConfigSchema.parse({
    ...over,
    llm: { formatRetries: 1, ...over.llm, transport: { initialIntervalMs: 50, maximumIntervalMs: 200, ...over.llm?.transport }, simulator: { retryAfterSeconds: 0.05, ...over.llm?.simulator } },
    refine: { window: 16, batchPerRun: 40, ...over.refine },
  });
}
