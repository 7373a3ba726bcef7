// The batch activities of construct and refine (llm queue: they need the LLM client registry): a
// batch of entities run in-process, heartbeating progress. The logic is core/construct/batch.ts and
// core/refine/batch.ts; here: parse, heartbeat (a side timer too, so a batch waiting on a busy
// endpoint is not taken for dead), map errors. A rejected request (401, 403, unknown model) fails
// the batch non-retryably with that message, which stops the stage.
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { DOMAINS, LLM_ROLES } from '../config/names';
import { LlmSchema } from '../config/schema';
import { runConstructBatch, type ConstructBatchResult } from '../core/construct/batch';
import { runRefineBatch, type RefineBatchResult } from '../core/refine/batch';
import { RefineStage } from '../core/refine/stage';
import { R4ecError } from '../core/errors';
import { batchExecution } from '../core/rules';
import type { BatchHooks, BatchLlm } from '../core/stage/batch';
import { toFailure } from './failure';
import type { LlmActivityDeps } from './llm';
import { parseInput } from './validate';

export type { ConstructBatchResult, RefineBatchResult };

const Transport = LlmSchema.shape.transport;
const Range = { offset: z.number().int().min(0), limit: z.number().int().positive().max(1000) };

const ConstructBatchInput = z
  .object({
    runId: z.string().min(1),
    domain: z.enum(DOMAINS),
    workKey: z.string().min(1),
    datasetKey: z.string().min(1),
    ...Range,
    inferencesPerSample: z.number().int().positive(),
    formatRetries: z.number().int().min(0).max(10),
    transport: Transport,
    cap: LlmSchema.shape.cap.optional(),
    prices: LlmSchema.shape.prices.optional(),
  })
  .strict();
export type RunConstructBatchInput = z.input<typeof ConstructBatchInput>;

const RefineBatchInput = z
  .object({
    runId: z.string().min(1),
    key: z.string().min(1),
    ingestKey: z.string().min(1),
    domain: z.enum(DOMAINS),
    entities: z.object({ historyLength: z.number().int().positive(), activeUserMinInteractions: z.number().int().min(0), knowledgeCutoff: z.number().gt(0).lt(1).optional() }).strict(),
    cap: LlmSchema.shape.cap,
    ...Range,
    strategy: z.enum(['iterative', 'filter']),
    maxIterations: z.number().int().min(0),
    filterSamples: z.number().int().positive(),
    models: z.partialRecord(z.enum(LLM_ROLES), z.string().min(1)),
    formatRetries: z.number().int().min(0).max(10),
    transport: Transport,
    reserveCalls: z.number().int().min(0),
    karFromActor: z.boolean(),
    karBatch: z.object({ session: z.string().min(1) }).strict().optional(),
  })
  .strict();
export type RunRefineBatchInput = z.input<typeof RefineBatchInput>;

const HEARTBEAT_MS = 2_000;

export function createEntityBatchActivities(deps: LlmActivityDeps) {
  const refine = new RefineStage(deps.store);

  function batchLlm(activity: string): BatchLlm {
    const registry = deps.llm;
    if (!registry) throw toFailure(new R4ecError(`${activity}: this worker has no LLM registry (start it with \`r4ec worker --queue llm\`)`, 'LlmNotConfigured'));
    return {
      client: (role) => {
        try {
          return registry.client(role);
        } catch (e) {
          if (e instanceof R4ecError) throw e;
          throw new R4ecError(`${activity}: ${(e as Error).message}`, 'LlmNotConfigured');
        }
      },
      prepare: async (role, catalogKey) => {
        if (registry.usesSimulator(role)) await deps.ensureSimulatorCatalog?.(catalogKey);
      },
    };
  }

  /** Heartbeats `{ done }` as entities finish and every few seconds meanwhile; the SDK throttles what reaches the server. */
  async function heartbeating<T>(activity: string, run: (hooks: BatchHooks) => Promise<T>): Promise<T> {
    const ctx = Context.current();
    const progress = { done: 0 };
    const beat = setInterval(() => ctx.heartbeat(progress), HEARTBEAT_MS);
    try {
      return await run({
        signal: ctx.cancellationSignal,
        progress: (done) => {
          progress.done = done;
          ctx.heartbeat(progress);
        },
        execution: batchExecution(ctx.info.workflowExecution?.runId ?? 'standalone', ctx.info.activityId),
      });
    } catch (e) {
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? e;
      throw toFailure(e, e instanceof R4ecError ? {} : { prefix: activity });
    } finally {
      clearInterval(beat);
    }
  }

  return {
    async runConstructBatch(raw: RunConstructBatchInput): Promise<ConstructBatchResult> {
      const input = parseInput(ConstructBatchInput, raw, 'runConstructBatch');
      const llm = batchLlm('runConstructBatch');
      return heartbeating('runConstructBatch', (hooks) => runConstructBatch(deps.store, llm, { ...input, freeTeacher: deps.llm?.usesSimulator('teacher') ?? true }, hooks));
    },

    async runRefineBatch(raw: RunRefineBatchInput): Promise<RefineBatchResult> {
      const input = parseInput(RefineBatchInput, raw, 'runRefineBatch');
      const llm = batchLlm('runRefineBatch');
      return heartbeating('runRefineBatch', (hooks) => runRefineBatch(refine, llm, input, hooks));
    },
  };
}

export type EntityBatchActivities = ReturnType<typeof createEntityBatchActivities>;
