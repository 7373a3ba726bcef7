// construct stage, cpu queue: plan (stage key, skip, 40% seeded sample, plan pages in the work
// area), pages of units for the fan-out, one sample per inference, the inference's record, and the
// final assembly (activities/construct-assemble.ts). The work area `construct-work/<hash>/` holds
// the plan and one record per finished inference, so a crashed or re-run stage loses nothing.
import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { CONSTRUCT_OUTCOMES, DOMAINS } from '../config/names';
import { ConstructSchema, LlmSchema } from '../config/schema';
import {
  ConstructRecordError,
  ConstructSampleSchema,
  InferenceRecordSchema,
  InferenceStepsSchema,
  PlanEntrySchema,
  buildSample,
  promptSpec,
  sftRecordsFor,
  type ConstructSample,
  type InferenceRecord,
  type PlanEntry,
} from '../core/construct';
import { StageOutput } from '../core/store';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { createConstructAssembleActivities, stageSummaryOf } from './construct-assemble';
import { constructKeys, datasetFor, inferenceKey, planPage, writePlan, PLAN_PAGE, type ConstructSummary } from './construct-plan';
import { parseInput } from './validate';

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) }).strict();

const PlanInput = z
  .object({
    runId: z.string().min(1),
    domain: z.enum(DOMAINS),
    construct: ConstructSchema,
    llm: LlmSchema,
    ingest: Artifact,
    lookupOnly: z.boolean().default(false),
  })
  .strict();

export interface PlanConstructionOutput {
  key: string;
  workKey: string;
  skipped: boolean;
  contentHash?: string;
  summary?: ConstructSummary;
  /** Units (sampled entities × inferences per sample) for the fan-out. */
  units: number;
}

const PageInput = z.object({ workKey: z.string().min(1), offset: z.number().int().nonnegative(), limit: z.number().int().positive().max(5000), inferencesPerSample: z.number().int().positive() }).strict();

export interface ConstructUnit {
  planIndex: number;
  k: number;
  entry: PlanEntry;
  doneOutcome?: string;
}

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
  })
  .strict();

export function createConstructActivities(deps: ActivityDeps) {
  return {
    ...createConstructAssembleActivities(deps),

    async planConstruction(raw: z.input<typeof PlanInput>): Promise<PlanConstructionOutput> {
      const input = parseInput(PlanInput, raw, 'planConstruction');
      const { key, workKey } = constructKeys(input);
      const out = new StageOutput(deps.store, key);
      if (await out.isComplete()) {
        const m = await out.manifest();
        return { key, workKey, skipped: true, contentHash: await out.contentHash(), summary: stageSummaryOf(m.meta), units: 0 };
      }
      if (input.lookupOnly) {
        throw ApplicationFailure.nonRetryable(`construct (${input.domain}): no output ${key} for these inputs, and construct is not selected in this run`, 'StageOutputMissing');
      }
      const plan = await writePlan(deps.store, workKey, input);
      return { key, workKey, skipped: false, units: plan.sampled * input.construct.inferencesPerSample };
    },

    async loadConstructPage(raw: z.input<typeof PageInput>): Promise<ConstructUnit[]> {
      const { workKey, offset, limit, inferencesPerSample: K } = parseInput(PageInput, raw, 'loadConstructPage');
      const units: ConstructUnit[] = [];
      const pages = new Map<number, PlanEntry[]>();
      for (let u = offset; u < offset + limit; u++) {
        const planIndex = Math.floor(u / K);
        const p = Math.floor(planIndex / PLAN_PAGE);
        if (!pages.has(p)) pages.set(p, await planPage(deps.store, workKey, p));
        const entry = pages.get(p)![planIndex % PLAN_PAGE];
        if (!entry) break;
        const unit: ConstructUnit = { planIndex, k: u % K, entry };
        const recKey = inferenceKey(workKey, planIndex, unit.k);
        if (await deps.store.exists(recKey)) {
          // An unreadable record (older code, a torn copy after a crash) is redone, not trusted.
          let raw: unknown;
          try {
            raw = JSON.parse((await deps.store.get(recKey)).toString('utf8'));
          } catch {
            raw = undefined;
          }
          const rec = InferenceRecordSchema.safeParse(raw);
          if (rec.success) unit.doneOutcome = rec.data.outcome;
        }
        units.push(unit);
      }
      return units;
    },

    async loadConstructSample(raw: z.input<typeof SampleInput>): Promise<{ sample: ConstructSample; reasonSpec: ReturnType<typeof promptSpec> }> {
      const input = parseInput(SampleInput, raw, 'loadConstructSample');
      const ds = await datasetFor(deps.store, input.datasetKey);
      try {
        const sample = buildSample(ds.meta, ds.seq, input.domain === 'item' ? ds.raters : undefined, input.domain, input.entry);
        return { sample, reasonSpec: promptSpec(sample, 'reason', 'construct') };
      } catch (e) {
        throw toFailure(e, { prefix: 'loadConstructSample', type: 'ConstructPlanError', nonRetryable: true });
      }
    },

    async recordInference(raw: z.input<typeof RecordInput>): Promise<{ outcome: InferenceRecord['outcome']; reason: string }> {
      const input = parseInput(RecordInput, raw, 'recordInference');
      let { outcome, reason } = input;
      let records: InferenceRecord['records'];
      try {
        records = sftRecordsFor(input.sample, outcome, input.steps);
      } catch (e) {
        // A kept answer that cannot form a valid fine-tuning record is a format failure, not a crash.
        if (!(e instanceof ConstructRecordError) && !(e instanceof Error && e.name === 'PromptSpecError')) throw e;
        outcome = 'failed_format';
        reason = `record: ${(e as Error).message}`;
        records = { reason: [], reflect: [], refine: [] };
      }
      const rec: InferenceRecord = {
        workflowId: input.workflowId,
        entityId: input.sample.entityId,
        index: input.sample.index,
        k: input.k,
        seed: input.seed,
        outcome,
        reason,
        label: input.sample.label,
        usage: input.usage,
        steps: input.steps,
        provenance: input.sample.provenance,
        records,
      };
      await deps.store.put(inferenceKey(input.workKey, input.planIndex, input.k), JSON.stringify(InferenceRecordSchema.parse(rec)));
      return { outcome, reason };
    },
  };
}
