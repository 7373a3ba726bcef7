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
import type { PromptSpec } from '../core/prompts/builders';
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
