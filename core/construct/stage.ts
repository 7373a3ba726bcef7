// The construct stage's identity and plan: what its output key covers, the summary its manifest
// keeps, and the plan (done, or the work area and units to run) through planStage.
import { z } from 'zod';
import { CONSTRUCT_OUTCOMES, type ConstructOutcome, type Domain } from '../../config/names';
import { QueuesSchema, type R4ecConfig } from '../../config/schema';
import { LlmUsageSchema } from '../llm/usage';
import type { LlmUsage, StagePlan } from '../rules';
import { redoRefusedUnits } from '../stage/failure-limit';
import { planStage } from '../stage/plan';
import { MANIFEST, stageKey, type ArtifactStore } from '../store';
import { capReached, LlmBudget } from '../refine/budget';
import { writeConstructPointer } from './rerun';
import { refusalKey, writePlan } from './work';

/** Bumped when construction changes what it produces. */
export const CONSTRUCT_CODE_VERSION = 'construct-1';

export interface ConstructSummary {
  outcomes: Record<ConstructOutcome, number>;
  llm: LlmUsage;
  records: { reason: number; reflect: number; refine: number };
  sampled: number;
}

const ConstructSummarySchema = z.object({
  // Outputs committed before skipped_call_cap existed lack it.
    outcomes: z.preprocess((v) => (v !== null && typeof v === 'object' ? { skipped_call_cap: 0, ...v } : v), z.record(z.enum(CONSTRUCT_OUTCOMES), z.number())),
  llm: LlmUsageSchema,
  records: z.object({ reason: z.number(), reflect: z.number(), refine: z.number() }),
  sampled: z.number(),
}) satisfies z.ZodType<ConstructSummary>;

/** The stage summary kept in the output's manifest meta (read back when the stage is skipped). */
export function constructSummaryOf(meta: Record<string, unknown>): ConstructSummary {
  const { outcomes, llm, records, sampled } = ConstructSummarySchema.parse(meta);
  return { outcomes, llm, records, sampled };
}

export interface ConstructKeyInput {
  domain: Domain;
  construct: R4ecConfig['construct'];
  llm: R4ecConfig['llm'];
  ingest: { key: string; contentHash: string };
  /** train.knowledgeCutoff: samples are drawn from, and prompts show, only each user's prefix below it. */
  knowledgeCutoff?: number | undefined;
}

/**
 * What the output depends on: the sample, the teacher (or the simulator and its faults), the format
 * budget (it decides what a malformed answer comes to). Operational knobs are left out, the
 * transport retry budget among them: a rerun with another `llm.transport.maxAttempts` continues the
 * same output (its recorded inferences stay), as one with another call cap does.
 */
export function constructKeys(input: Omit<ConstructKeyInput, 'ingest'> & { ingest: { contentHash: string } }): { key: string; workKey: string } {
  const { sampleFraction, inferencesPerSample, seed } = input.construct;
  const { latencyMs: _l, port: _p, ...simulator } = input.llm.simulator;
  const teacher = input.llm.teacher
    ? { baseUrl: input.llm.teacher.baseUrl, model: input.llm.teacher.model, temperature: input.llm.teacher.temperature, topP: input.llm.teacher.topP, maxTokens: input.llm.teacher.maxTokens }
    : { simulator };
  const key = stageKey({
    stage: 'construct',
    codeVersion: CONSTRUCT_CODE_VERSION,
    config: {
      domain: input.domain,
      sampleFraction,
      inferencesPerSample,
      seed,
      teacher,
      formatRetries: input.llm.formatRetries,
      // Absent when off, so keys without a cutoff stay as they were.
      ...(input.knowledgeCutoff ? { knowledgeCutoff: input.knowledgeCutoff } : {}),
    },
    inputs: [input.ingest.contentHash],
  });
  return { key, workKey: `construct-work/${key.split('/')[1]}/${input.domain}` };
}

/** The work of a construct(domain) stage: its work area and the fan-out's units (sampled entities × K). */
export interface ConstructWork {
  workKey: string;
  units: number;
}
export type ConstructPlan = StagePlan<ConstructWork, ConstructSummary>;

/**
 * Done when the output exists; else the plan pages are written (or reused) in the work area. A
 * selected stage of a run also remembers where it is (`rerun --failed` reads it).
 */
export async function planConstruction(
  store: ArtifactStore,
  input: ConstructKeyInput & { lookupOnly: boolean; runId?: string | undefined; queues?: R4ecConfig['queues'] | undefined },
): Promise<ConstructPlan> {
  const { key, workKey } = constructKeys(input);
  if (!input.lookupOnly && input.runId) {
    await writeConstructPointer(store, { runId: input.runId, domain: input.domain, key, workKey, ingest: input.ingest, construct: input.construct, llm: input.llm, queues: input.queues ?? QueuesSchema.parse({}), ...(input.knowledgeCutoff ? { knowledgeCutoff: input.knowledgeCutoff } : {}) });
  }
  return planStage({
    store,
    key,
    stage: `construct (${input.domain})`,
    lookupOnly: input.lookupOnly,
    summaryOf: constructSummaryOf,
    // Inferences skipped at the call cap are asked once the (raised) cap has room: the same run goes on.
    redo: async (s) => (s.outcomes.skipped_call_cap ?? 0) > 0 && input.runId !== undefined && !capReached(input.llm.cap, await new LlmBudget(store).total(input.runId)),
    work: async () => {
      // Redone: the committed output (with its skipped inferences) stops being the stage's output;
      // its work area was kept, so only the skipped inferences run again.
      if (await store.exists(`${key}/${MANIFEST}`)) await store.delete(`${key}/${MANIFEST}`);
      // The last execution refused to commit: its failed inferences run again, the others stay.
      await redoRefusedUnits(store, refusalKey(workKey), (recordKey) => (recordKey.startsWith(`${workKey}/inferences/`) ? recordKey : undefined));
      const plan = await writePlan(store, workKey, input);
      return { workKey, units: plan.sampled * input.construct.inferencesPerSample };
    },
  });
}
