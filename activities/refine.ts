// Refine's bookkeeping activities (cpu queue): plan the stage, page through its entities with their
// prompt samples, the run-level call budget, entity records, assembly, and the rerun of failed
// entities. The LLM steps themselves are `callLlm` on the llm queue (activities/llm.ts).
import { z } from 'zod';
import { DOMAINS, type Domain, type LlmRole, type RefineOutcome } from '../config/names';
import { R4ecConfigSchema, type R4ecConfig } from '../config/schema';
import { loadDataset, type DatasetView } from '../core/data/dataset';
import {
  LlmBudget,
  assembleRefineOutput,
  capReached,
  combineRefineOutputs,
  committedSummary,
  isSettled,
  scanRecords,
  readRecord,
  readStagePointer,
  refineStageKey,
  resolveRoleModels,
  roleIdentity,
  writeRecord,
  writeStagePointer,
  EntityRecordSchema,
  RefineDataError,
  RefineEntities,
  type RefineSummary,
  type RoleModels,
} from '../core/refine';
import { callTimeouts, failedEntitiesQuery, minimumCalls, type EntitySample } from '../core/rules';
import { StageOutput } from '../core/store';
import { canonicalJson } from '../core/util/hash';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { parseInput } from './validate';

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });
const Cap = z.object({ maxCalls: z.number().int().positive().optional(), maxTokens: z.number().int().positive().optional() });
const EntityOptions = z.object({ historyLength: z.number().int().positive(), activeUserMinInteractions: z.number().int().min(0) });

const PlanInput = z.object({
  runId: z.string().min(1),
  domain: z.enum(DOMAINS),
  config: z.unknown(),
  ingest: Artifact,
  finetune: Artifact.optional(),
  lookupOnly: z.boolean().default(false),
});
export type PlanRefineInput = z.input<typeof PlanInput>;
export interface PlanRefineOutput {
  key: string;
  /** The output exists and nothing is left to do: the stage returns it. */
  complete: boolean;
  contentHash?: string;
  summary?: RefineSummary;
  /** Entities of the domain (the fan-out's work list). */
  total: number;
  models: RoleModels;
  adapterJobKeys: string[];
  /** startToClose per LLM role: the endpoint's timeout for every format attempt, plus slack. */
  callTimeoutMs: Record<LlmRole, number>;
  /** Calls an entity books against the cap before it starts: the algorithm's minimum (0: no cap, nothing to book). */
  reserveCalls: number;
  /**
   * The teacher's kar request is byte-for-byte the actor's first request (same endpoint identity and
   * model, no adapter): its answer is the actor's, so the entity takes it without another activity.
   */
  karFromActor: boolean;
}

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
export interface RefineUnit {
  entityId: string;
  index: number;
  /** Set when nothing is left to do for it (recorded earlier, approximated, or the cap is reached). */
  doneOutcome?: RefineOutcome;
  sample?: EntitySample;
}

const ReserveInput = z.object({ runId: z.string().min(1), cap: Cap, calls: z.number().int().min(0) });
export type ReserveLlmBudgetInput = z.input<typeof ReserveInput>;

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
});
export type AssembleRefineInput = z.input<typeof AssembleInput>;

const RerunInput = z.object({ runId: z.string().min(1), domain: z.enum(DOMAINS) });
export type PrepareRefineRerunInput = z.input<typeof RerunInput>;
export interface PrepareRefineRerunOutput {
  /** False when this run has no finished refine output for the domain. */
  found: boolean;
  key?: string;
  ingestKey?: string;
  config?: R4ecConfig;
  plan?: PlanRefineOutput;
  failed: Array<{ entityId: string; index: number; outcome: RefineOutcome }>;
  /** The same question as a visibility query (Web UI, `temporal workflow list --query`). */
  query: string;
  /** A record was written after the output was committed (e.g. an entity workflow reset by hand). */
  stale: boolean;
}

const CombineInput = z.object({ user: Artifact, item: Artifact });
export type CombineRefineOutputsInput = z.input<typeof CombineInput>;

/** Bad stored data cannot be fixed by retrying: fail once, saying which object and field. */
async function mapErrors<T>(activity: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof RefineDataError) throw toFailure(err, { prefix: activity });
    if (err instanceof z.ZodError) throw toFailure(new RefineDataError(err.message), { prefix: activity });
    throw err;
  }
}

export function createRefineActivities(deps: ActivityDeps) {
  const budget = new LlmBudget(deps.store);
  // One dataset view (and its rater index) per ingest output for the worker's life.
  const views = new Map<string, Promise<DatasetView>>();
  const view = (key: string) => {
    let p = views.get(key);
    if (!p) {
      p = loadDataset(deps.store, key);
      p.catch(() => views.delete(key));
      views.set(key, p);
    }
    return p;
  };
  const entitiesFor = async (ingestKey: string, domain: Domain, opts: z.infer<typeof EntityOptions>) => RefineEntities.open(await view(ingestKey), domain, opts);

  async function plan(input: z.infer<typeof PlanInput>): Promise<PlanRefineOutput> {
    const config = R4ecConfigSchema.parse(input.config);
    const key = refineStageKey(config, input.domain, input.ingest, input.finetune);
    const { models, adapterJobKeys } = await resolveRoleModels(deps.store, config, input.domain, input.finetune);
    const entities = await entitiesFor(input.ingest.key, input.domain, config.refine);
    const capped = config.llm.cap.maxCalls !== undefined || config.llm.cap.maxTokens !== undefined;
    const karFromActor = !models.actor && canonicalJson(roleIdentity(config, 'teacher')) === canonicalJson(roleIdentity(config, 'actor'));
    const base = {
      key,
      total: entities.total,
      models,
      adapterJobKeys,
      callTimeoutMs: callTimeouts(config.llm),
      reserveCalls: capped ? minimumCalls(config.refine.strategy, config.refine.filterSamples) : 0,
      karFromActor,
    };
    const existing = await committedSummary(deps.store, key);
    if (!input.lookupOnly) {
      await writeStagePointer(deps.store, { runId: input.runId, domain: input.domain, key, ingest: input.ingest, finetune: input.finetune ?? null, config });
    }
    if (!existing) return { ...base, complete: false };
    const done = { ...base, complete: true, contentHash: existing.contentHash, summary: existing.summary };
    // Entities skipped at the call cap are picked up again once the (raised) cap has room.
    if (input.lookupOnly || existing.summary.outcomes.skipped_call_cap === 0) return done;
    return capReached(config.llm.cap, await budget.total(input.runId)) ? done : { ...base, complete: false };
  }

  async function listUnits(input: z.infer<typeof ListInput>): Promise<RefineUnit[]> {
    const entities = await entitiesFor(input.ingestKey, input.domain, input.entities);
    const idOf = (index: number) => (input.domain === 'user' ? entities.view.meta.users[index] : entities.view.item(index).id);
    const refs = input.indices
      ? input.indices.map((index) => {
          const entityId = idOf(index);
          if (entityId === undefined) throw new RefineDataError(`no ${input.domain} at index ${index} in ${input.ingestKey}`);
          return { index, entityId };
        })
      : Array.from({ length: Math.max(0, Math.min(input.limit, entities.total - input.offset)) }, (_, j) => entities.at(input.offset + j));
    const capped = capReached(input.cap, await budget.total(input.runId));
    return Promise.all(
      refs.map(async (ref): Promise<RefineUnit> => {
        if (!entities.isActive(ref.index)) return { ...ref, doneOutcome: 'approximated' };
        if (!input.indices) {
          const rec = await readRecord(deps.store, input.key, ref.index);
          if (rec && isSettled(rec.outcome)) return { ...ref, doneOutcome: rec.outcome };
        }
        // Never started: the entity stays without a record and counts as skipped_call_cap.
        if (capped) return { ...ref, doneOutcome: 'skipped_call_cap' };
        return { ...ref, sample: entities.sample(ref.index) };
      }),
    );
  }

  return {
    async planRefine(raw: PlanRefineInput): Promise<PlanRefineOutput> {
      const input = parseInput(PlanInput, raw, 'planRefine');
      return mapErrors('planRefine', () => plan(input));
    },

    async listRefineEntities(raw: ListRefineEntitiesInput): Promise<RefineUnit[]> {
      const input = parseInput(ListInput, raw, 'listRefineEntities');
      return mapErrors('listRefineEntities', () => listUnits(input));
    },

    async reserveLlmBudget(raw: ReserveLlmBudgetInput): Promise<{ granted: boolean; calls: number; tokens: number }> {
      const input = parseInput(ReserveInput, raw, 'reserveLlmBudget');
      const r = await budget.reserve(input.runId, input.cap, input.calls);
      return { granted: r.granted, ...r.used };
    },

    async saveRefineEntity(raw: SaveRefineEntityInput): Promise<{ outcome: RefineOutcome; attempts: number }> {
      const input = parseInput(SaveInput, raw, 'saveRefineEntity');
      const rec = await writeRecord(deps.store, input.key, input.record);
      const u = input.record.usage;
      await budget.charge(input.charge.runId, { calls: u.calls, tokens: u.promptTokens + u.completionTokens }, input.charge.releaseCalls, input.record.workflowRunId);
      return { outcome: rec.outcome, attempts: rec.attempts };
    },

    async assembleRefine(raw: AssembleRefineInput): Promise<{ contentHash: string; summary: RefineSummary }> {
      const input = parseInput(AssembleInput, raw, 'assembleRefine');
      return mapErrors('assembleRefine', async () => {
        const entities = await entitiesFor(input.ingestKey, input.domain, input.entities);
        return assembleRefineOutput({ store: deps.store, key: input.key, entities, strategy: input.strategy, meta: { runId: input.runId } });
      });
    },

    async prepareRefineRerun(raw: PrepareRefineRerunInput): Promise<PrepareRefineRerunOutput> {
      const input = parseInput(RerunInput, raw, 'prepareRefineRerun');
      return mapErrors('prepareRefineRerun', async () => {
        const pointer = await readStagePointer(deps.store, input.runId, input.domain);
        if (!pointer) return { found: false, failed: [], query: failedEntitiesQuery(input.runId, input.domain), stale: false };
        const finetune = pointer.finetune ? { finetune: pointer.finetune } : {};
        const p = await plan({ runId: input.runId, domain: input.domain, config: pointer.config, ingest: pointer.ingest, ...finetune, lookupOnly: true });
        // A stage that never finished has no output to repair: run the stage (pipeline) instead.
        if (!p.complete) return { found: false, failed: [], query: failedEntitiesQuery(input.runId, input.domain), stale: false };
        const scan = await scanRecords(deps.store, pointer.key);
        const failed = scan.failed.map(({ entityId, index, outcome }) => ({ entityId, index, outcome }));
        const committedAt = (await new StageOutput(deps.store, pointer.key).manifest()).createdAt;
        const stale = scan.newestUpdate !== null && scan.newestUpdate > committedAt;
        return { found: true, key: pointer.key, ingestKey: pointer.ingest.key, config: pointer.config, plan: p, failed, query: failedEntitiesQuery(input.runId, input.domain), stale };
      });
    },

    async combineRefineOutputs(raw: CombineRefineOutputsInput): Promise<{ key: string; contentHash: string; reused: boolean }> {
      const input = parseInput(CombineInput, raw, 'combineRefineOutputs');
      return mapErrors('combineRefineOutputs', () => combineRefineOutputs(deps.store, input));
    },
  };
}

export type RefineActivities = ReturnType<typeof createRefineActivities>;
