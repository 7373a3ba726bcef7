// Refine's bookkeeping activities (cpu queue): plan the stage, page through its entities with their
// prompt samples, the run-level call budget, entity records, assembly, the rerun of failed entities
// and the merge of both domains' outputs. The logic is core/refine (RefineStage); the LLM steps
// themselves are `callLlm` on the llm queue (activities/llm.ts).
import type { StepFailure } from '../core/rules';
import { z } from 'zod';
import { DOMAINS, type RefineOutcome } from '../config/names';
import { LlmSchema, R4ecConfigSchema } from '../config/schema';
import { R4ecError } from '../core/errors';
import { EntityRecordSchema, RefineDataError, RefineStage, type PreparedRerun, type RefinePlan, type RefineSummary, type RefineUnit, type RefineWork } from '../core/refine';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

export type { PreparedRerun, RefinePlan, RefineSummary, RefineUnit, RefineWork };

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });
// The whole cap, money included (a narrower schema would drop maxUsd on the way in).
const Cap = LlmSchema.shape.cap;
const EntityOptions = z.object({ historyLength: z.number().int().positive(), activeUserMinInteractions: z.number().int().min(0), knowledgeCutoff: z.number().gt(0).lt(1).optional() });

const PlanInput = z.object({
  runId: z.string().min(1),
  domain: z.enum(DOMAINS),
  config: z.unknown(),
  ingest: Artifact,
  finetune: Artifact.optional(),
  lookupOnly: z.boolean().default(false),
});
export type PlanRefineInput = z.input<typeof PlanInput>;

const ListInput = z.object({
  runId: z.string().min(1),
  key: z.string().min(1),
  ingestKey: z.string().min(1),
  domain: z.enum(DOMAINS),
  entities: EntityOptions,
  cap: Cap,
  /** Positions in the entity list [offset, offset+limit) … */
  offset: z.number().int().min(0).default(0),
  limit: z.number().int().min(0).max(1000).default(0),
  /** … or exactly these dataset indices (a rerun), redone even when their record is settled. */
  indices: z.array(z.number().int().min(0)).max(1000).optional(),
});
export type ListRefineEntitiesInput = z.input<typeof ListInput>;

// bookingId: the id the entity's charge will carry (its workflow run id); absent: booked in this process only.
const ReserveInput = z.object({ runId: z.string().min(1), cap: Cap, calls: z.number().int().min(0), bookingId: z.string().min(1).optional() });
export type ReserveLlmBudgetInput = z.input<typeof ReserveInput>;

const KarFailureInput = z.object({ key: z.string().min(1), session: z.string().min(1), index: z.number().int().min(0) }).strict();
export type KarBatchFailureInput = z.input<typeof KarFailureInput>;

const SaveInput = z.object({
  key: z.string().min(1),
  record: EntityRecordSchema.omit({ v: true, attempts: true, updatedAt: true }),
  charge: z.object({ runId: z.string().min(1), releaseCalls: z.number().int().min(0) }),
});
export type SaveRefineEntityInput = z.input<typeof SaveInput>;

const AssembleInput = z.object({
  runId: z.string().min(1),
  key: z.string().min(1),
  ingestKey: z.string().min(1),
  domain: z.enum(DOMAINS),
  entities: EntityOptions,
  strategy: z.enum(['iterative', 'filter']),
  /** The stage's refine.failureLimit; absent (a rerun of failed entities): commit whatever the share. */
  failureLimit: z.number().min(0).max(1).optional(),
});
export type AssembleRefineInput = z.input<typeof AssembleInput>;

const RerunInput = z.object({ runId: z.string().min(1), domain: z.enum(DOMAINS) });
export type PrepareRefineRerunInput = z.input<typeof RerunInput>;

const CombineInput = z.object({ user: Artifact, item: Artifact });
export type CombineRefineOutputsInput = z.input<typeof CombineInput>;

/** Bad stored data cannot be fixed by retrying: fail once, saying which object and field. */
async function mapErrors<T>(activity: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await withHeartbeat(fn);
  } catch (err) {
    if (err instanceof RefineDataError) throw toFailure(err, { prefix: activity });
    if (err instanceof z.ZodError) throw toFailure(new RefineDataError(err.message), { prefix: activity });
    // StageOutputMissing: the stage is outside the run's selection and has no output;
    // StageFailureLimit: too many entities failed to commit the output.
    if (err instanceof R4ecError) throw toFailure(err);
    throw err;
  }
}

export function createRefineActivities(deps: ActivityDeps) {
  const stage = new RefineStage(deps.store);
  return {
    async planRefine(raw: PlanRefineInput): Promise<RefinePlan> {
      const input = parseInput(PlanInput, raw, 'planRefine');
      return mapErrors('planRefine', async () => stage.plan({ ...input, config: R4ecConfigSchema.parse(input.config) }));
    },

    async listRefineEntities(raw: ListRefineEntitiesInput): Promise<RefineUnit[]> {
      const input = parseInput(ListInput, raw, 'listRefineEntities');
      return mapErrors('listRefineEntities', () => stage.listUnits(input));
    },

    async reserveLlmBudget(raw: ReserveLlmBudgetInput): Promise<{ granted: boolean; calls: number; tokens: number }> {
      const input = parseInput(ReserveInput, raw, 'reserveLlmBudget');
      const r = await stage.budget.reserve(input.runId, input.cap, input.calls, input.bookingId);
      return { granted: r.granted, ...r.used };
    },

    /** Why the teacher's batches left an entity's kar without an answer (null: answered, in the cache). */
    async readKarBatchFailure(raw: KarBatchFailureInput): Promise<StepFailure | null> {
      const input = parseInput(KarFailureInput, raw, 'readKarBatchFailure');
      return (await stage.karBatchFailure(input, input.index)) ?? null;
    },

    async saveRefineEntity(raw: SaveRefineEntityInput): Promise<{ outcome: RefineOutcome; attempts: number }> {
      const input = parseInput(SaveInput, raw, 'saveRefineEntity');
      return stage.saveEntity(input.key, input.record, input.charge);
    },

    async assembleRefine(raw: AssembleRefineInput): Promise<{ contentHash: string; summary: RefineSummary }> {
      const input = parseInput(AssembleInput, raw, 'assembleRefine');
      return mapErrors('assembleRefine', () => stage.assemble(input));
    },

    async prepareRefineRerun(raw: PrepareRefineRerunInput): Promise<PreparedRerun> {
      const input = parseInput(RerunInput, raw, 'prepareRefineRerun');
      return mapErrors('prepareRefineRerun', () => stage.prepareRerun(input.runId, input.domain));
    },

    /** refine(user) and refine(item) as the one `refine` output encode reads. */
    async combineRefineOutputs(raw: CombineRefineOutputsInput): Promise<{ key: string; contentHash: string; reused: boolean }> {
      const input = parseInput(CombineInput, raw, 'combineRefineOutputs');
      return mapErrors('combineRefineOutputs', () => stage.merge(input));
    },
  };
}

export type RefineActivities = ReturnType<typeof createRefineActivities>;
