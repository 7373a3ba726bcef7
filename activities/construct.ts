// construct stage, cpu queue: the plan (done, or the work area and its units), pages of units for the
// fan-out, one sample per inference and its record (local activities of the inference workflow), and
// the final assembly. The logic is core/construct; the teacher calls are `askTeacher` (llm queue).
import { z } from 'zod';
import { CONSTRUCT_OUTCOMES, DOMAINS } from '../config/names';
import { ConstructSchema, LlmSchema, QueuesSchema } from '../config/schema';
import {
  assembleConstruction,
  ConstructSampleSchema,
  datasetFor,
  InferenceRecordSchema,
  InferenceStepsSchema,
  loadUnits,
  planConstruction,
  prepareConstructRerun,
  PlanEntrySchema,
  recordInference,
  sampleOf,
  type ConstructPlan,
  type PreparedConstructRerun,
  type ConstructSample,
  type ConstructSummary,
  type ConstructUnit,
  type ConstructWork,
  type InferenceRecord,
} from '../core/construct';
import { costUsd, priceFor, priceTable } from '../core/llm/prices';
import type { PromptSpec } from '../core/prompts/builders';
import { LlmBudget } from '../core/refine/budget';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

export type { ConstructPlan, ConstructSummary, ConstructUnit, ConstructWork, PreparedConstructRerun };

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) }).strict();

const PlanInput = z
  .object({
    runId: z.string().min(1),
    domain: z.enum(DOMAINS),
    construct: ConstructSchema,
    llm: LlmSchema,
    ingest: Artifact,
    lookupOnly: z.boolean().default(false),
    queues: QueuesSchema.optional(),
    knowledgeCutoff: z.number().gt(0).lt(1).optional(),
  })
  .strict();

const PageInput = z.object({ workKey: z.string().min(1), offset: z.number().int().nonnegative(), limit: z.number().int().positive().max(5000), inferencesPerSample: z.number().int().positive() }).strict();

const SampleInput = z.object({ datasetKey: z.string().min(1), domain: z.enum(DOMAINS), entry: PlanEntrySchema }).strict();

const RecordInput = z
  .object({
    workKey: z.string().min(1),
    workflowId: z.string().min(1),
    planIndex: z.number().int().nonnegative(),
    k: z.number().int().nonnegative(),
    seed: z.number().int(),
    sample: ConstructSampleSchema,
    outcome: z.enum(CONSTRUCT_OUTCOMES),
    reason: z.string().min(1),
    steps: InferenceStepsSchema,
    usage: InferenceRecordSchema.shape.usage,
    execution: z.string().min(1).optional(),
  })
  .strict();

const RerunInput = z.object({ runId: z.string().min(1), domain: z.enum(DOMAINS) }).strict();

const ReserveInput = z.object({ runId: z.string().min(1), cap: LlmSchema.shape.cap, calls: z.number().int().min(0), bookingId: z.string().min(1) }).strict();
const ChargeInput = z
  .object({
    runId: z.string().min(1),
    /** Once per execution of the inference, wherever it is retried. */
    chargeId: z.string().min(1),
    usage: z.object({ calls: z.number().int().min(0), cacheHits: z.number().int().min(0), promptTokens: z.number().min(0), completionTokens: z.number().min(0) }).strict(),
    releaseCalls: z.number().int().min(0),
    /** The teacher's model on a priced endpoint; absent: the simulator (free). */
    teacherModel: z.string().min(1).optional(),
    prices: LlmSchema.shape.prices,
  })
  .strict();

const AssembleInput = z
  .object({
    key: z.string().min(1),
    workKey: z.string().min(1),
    domain: z.enum(DOMAINS),
    inferencesPerSample: z.number().int().positive(),
    teacher: z.object({ model: z.string(), simulator: z.boolean() }).strict(),
    failureLimit: z.number().min(0).max(1).optional(),
    replace: z.boolean().optional(),
  })
  .strict();

export function createConstructActivities(deps: ActivityDeps) {
  const { store } = deps;
  // This worker's share of the call cap's bookings (the inference workflows' local activities).
  const budget = new LlmBudget(store);
  return {
    async planConstruction(raw: z.input<typeof PlanInput>): Promise<ConstructPlan> {
      const input = parseInput(PlanInput, raw, 'planConstruction');
      try {
        return await withHeartbeat(() => planConstruction(store, input));
      } catch (e) {
        throw toFailure(e);
      }
    },

    async loadConstructPage(raw: z.input<typeof PageInput>): Promise<ConstructUnit[]> {
      const { workKey, offset, limit, inferencesPerSample } = parseInput(PageInput, raw, 'loadConstructPage');
      return withHeartbeat(() => loadUnits(store, workKey, offset, limit, inferencesPerSample));
    },

    async loadConstructSample(raw: z.input<typeof SampleInput>): Promise<{ sample: ConstructSample; reasonSpec: PromptSpec }> {
      const input = parseInput(SampleInput, raw, 'loadConstructSample');
      const ds = await datasetFor(store, input.datasetKey);
      try {
        return sampleOf(ds, input.domain, input.entry);
      } catch (e) {
        throw toFailure(e, { prefix: 'loadConstructSample', type: 'ConstructPlanError', nonRetryable: true });
      }
    },

    async recordInference(raw: z.input<typeof RecordInput>): Promise<{ outcome: InferenceRecord['outcome']; reason: string }> {
      return recordInference(store, parseInput(RecordInput, raw, 'recordInference'));
    },

    /** Books Algorithm 1's fewest calls for one inference workflow unless the run-level cap (`llm.cap`) is reached. */
    async reserveConstructCalls(raw: z.input<typeof ReserveInput>): Promise<{ granted: boolean }> {
      const input = parseInput(ReserveInput, raw, 'reserveConstructCalls');
      return { granted: (await budget.reserve(input.runId, input.cap, input.calls, input.bookingId)).granted };
    },

    /** What an inference workflow used replaces its booking (at the synchronous price). */
    async chargeConstructCalls(raw: z.input<typeof ChargeInput>): Promise<void> {
      const input = parseInput(ChargeInput, raw, 'chargeConstructCalls');
      const price = input.teacherModel ? priceFor(input.teacherModel, priceTable(input.prices)) : undefined;
      const usd = price ? costUsd(input.usage, price, 'sync') : 0;
      await budget.charge(input.runId, { calls: input.usage.calls, tokens: input.usage.promptTokens + input.usage.completionTokens, usd }, input.releaseCalls, input.chargeId);
    },

    /** `rerun --failed`: the run's output of a domain, its failed inferences, and the work area rebuilt from it. */
    async prepareConstructRerun(raw: z.input<typeof RerunInput>): Promise<PreparedConstructRerun> {
      const input = parseInput(RerunInput, raw, 'prepareConstructRerun');
      try {
        return await prepareConstructRerun(store, input.runId, input.domain);
      } catch (e) {
        throw toFailure(e, { prefix: 'prepareConstructRerun' });
      }
    },

    async assembleConstruction(raw: z.input<typeof AssembleInput>): Promise<{ key: string; contentHash: string; summary: ConstructSummary }> {
      const input = parseInput(AssembleInput, raw, 'assembleConstruction');
      try {
        return await withHeartbeat((beat) => assembleConstruction(store, input, beat));
      } catch (e) {
        throw toFailure(e, { prefix: 'assembleConstruction' });
      }
    },
  };
}
