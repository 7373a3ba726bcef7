// The refine(domain) stage's steps over the store, free of Temporal: the plan (done, or the work:
// the entities, the models each role asks, the call budget's booking), pages of entities with their
// prompt samples, the call budget, entity records, assembly, what `rerun --failed` redoes, and the
// merge of both domains' outputs into the one output encode reads.
import type { Domain, LlmRole, RefineOutcome } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import { loadDataset, type DatasetView } from '../data/dataset';
import { callTimeouts, failedEntitiesQuery, isBatchExecution, minimumCalls, type EntitySample, type StageArtifact, type StagePlan, type StepFailure } from '../rules';
import { planStage } from '../stage/plan';
import type { ArtifactStore } from '../store';
import { canonicalJson } from '../util/hash';
import { redoRefusedUnits } from '../stage/failure-limit';
import { assembleRefineOutput, combineRefineOutputs, committedSummary, refineSummaryOf, refusalKey, type RefineSummary } from './assemble';
import { capReached, LlmBudget, type LlmCap } from './budget';
import { karBatchFailure } from './kar-batch';
import { RefineEntities, type EntityListOptions } from './entities';
import { RefineDataError } from './errors';
import { readStagePointer, refineStageKey, resolveRoleModels, roleIdentity, writeStagePointer, type RoleModels } from './plan';
import { isFailed, isSettled, readRecord, recordKey, writeRecord, type EntityResult } from './record';
import { scanRecords } from './rerun';

/** What a refine(domain) stage runs: the fan-out's work list and what every entity workflow needs. */
export interface RefineWork {
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
export type RefinePlan = StagePlan<RefineWork, RefineSummary>;

export interface RefineUnit {
  entityId: string;
  index: number;
  /** Set when nothing is left to do for it (recorded earlier, approximated, or the cap is reached). */
  doneOutcome?: RefineOutcome;
  sample?: EntitySample;
  /** A batch recorded it as failed: it still needs its own entity workflow (not redone in a batch). */
  failedInBatch?: RefineOutcome;
  /** Listed with no record in the store (its record is written without reading an earlier one). */
  unrecorded?: boolean;
}

export interface ListUnitsInput {
  runId: string;
  key: string;
  ingestKey: string;
  domain: Domain;
  entities: EntityListOptions;
  cap: LlmCap;
  /** Positions in the entity list [offset, offset+limit) … */
  offset: number;
  limit: number;
  /** … or exactly these dataset indices (a rerun), redone even when their record is settled. */
  indices?: number[] | undefined;
}

/** What `rerun --failed` starts from: the run's finished output of the domain and its failed entities. */
export type PreparedRerun =
  | { found: false; query: string }
  | {
      found: true;
      key: string;
      ingestKey: string;
      config: R4ecConfig;
      work: RefineWork;
      artifact: StageArtifact;
      summary: RefineSummary;
      failed: Array<{ entityId: string; index: number; outcome: RefineOutcome }>;
      /** The same question as a visibility query (Web UI, `temporal workflow list --query`). */
      query: string;
      /** A record was written after the output was committed (e.g. an entity workflow reset by hand). */
      stale: boolean;
    };

type Artifact = { key: string; contentHash: string };

/** One per worker: the dataset views (and rater indices) it opened, and its share of the call budget. */
export class RefineStage {
  private readonly views = new Map<string, Promise<DatasetView>>();
  readonly budget: LlmBudget;

  constructor(private readonly store: ArtifactStore) {
    this.budget = new LlmBudget(store);
  }

  private view(key: string): Promise<DatasetView> {
    let p = this.views.get(key);
    if (!p) {
      p = loadDataset(this.store, key);
      p.catch(() => this.views.delete(key));
      this.views.set(key, p);
    }
    return p;
  }

  async entities(ingestKey: string, domain: Domain, opts: EntityListOptions): Promise<RefineEntities> {
    return RefineEntities.open(await this.view(ingestKey), domain, opts);
  }

  async work(config: R4ecConfig, domain: Domain, ingest: Artifact, finetune: Artifact | undefined): Promise<RefineWork> {
    const { models, adapterJobKeys } = await resolveRoleModels(this.store, config, domain, finetune);
    const entities = await this.entities(ingest.key, domain, { ...config.refine, knowledgeCutoff: config.train.knowledgeCutoff });
    const capped = config.llm.cap.maxCalls !== undefined || config.llm.cap.maxTokens !== undefined;
    return {
      total: entities.total,
      models,
      adapterJobKeys,
      callTimeoutMs: callTimeouts(config.llm),
      reserveCalls: capped ? minimumCalls(config.refine.strategy, config.refine.filterSamples) : 0,
      karFromActor: !models.actor && canonicalJson(roleIdentity(config, 'teacher')) === canonicalJson(roleIdentity(config, 'actor')),
    };
  }

  /** Remembers the stage for `rerun --failed` (selected runs only), then plans it. */
  async plan(input: { runId: string; domain: Domain; config: R4ecConfig; ingest: Artifact; finetune?: Artifact | undefined; lookupOnly: boolean }): Promise<RefinePlan> {
    const { runId, domain, config, ingest, finetune } = input;
    const key = refineStageKey(config, domain, ingest, finetune);
    if (!input.lookupOnly) await writeStagePointer(this.store, { runId, domain, key, ingest, finetune: finetune ?? null, config });
    return planStage({
      store: this.store,
      key,
      stage: `refine(${domain})`,
      lookupOnly: input.lookupOnly,
      summaryOf: refineSummaryOf,
      work: async () => {
        // The last execution refused to commit: its failed entities run again, the others stay.
        await redoRefusedUnits(this.store, refusalKey(key), (unit) => (/^\d+$/.test(unit) ? recordKey(key, Number(unit)) : undefined));
        return this.work(config, domain, ingest, finetune);
      },
      // Entities skipped at the call cap are picked up again once the (raised) cap has room.
      redo: async (s) => s.outcomes.skipped_call_cap > 0 && !capReached(config.llm.cap, await this.budget.total(runId)),
    });
  }

  async listUnits(input: ListUnitsInput): Promise<RefineUnit[]> {
    const entities = await this.entities(input.ingestKey, input.domain, input.entities);
    const idOf = (index: number) => (input.domain === 'user' ? entities.view.meta.users[index] : entities.view.item(index).id);
    const refs = input.indices
      ? input.indices.map((index) => {
          const entityId = idOf(index);
          if (entityId === undefined) throw new RefineDataError(`no ${input.domain} at index ${index} in ${input.ingestKey}`);
          return { index, entityId };
        })
      : Array.from({ length: Math.max(0, Math.min(input.limit, entities.total - input.offset)) }, (_, j) => entities.at(input.offset + j));
    const capped = capReached(input.cap, await this.budget.total(input.runId));
    return Promise.all(
      refs.map(async (ref): Promise<RefineUnit> => {
        if (!entities.isActive(ref.index)) return { ...ref, doneOutcome: 'approximated' };
        if (!input.indices) {
          const rec = await readRecord(this.store, input.key, ref.index);
          if (rec && isFailed(rec.outcome) && isBatchExecution(rec.workflowRunId)) return { ...ref, sample: entities.sample(ref.index), failedInBatch: rec.outcome };
          if (rec && isSettled(rec.outcome)) return { ...ref, doneOutcome: rec.outcome };
          // Never started: the entity stays without a record and counts as skipped_call_cap.
          if (capped) return { ...ref, doneOutcome: 'skipped_call_cap' };
          return { ...ref, sample: entities.sample(ref.index), ...(rec ? {} : { unrecorded: true }) };
        }
        if (capped) return { ...ref, doneOutcome: 'skipped_call_cap' };
        return { ...ref, sample: entities.sample(ref.index) };
      }),
    );
  }

  /** Why the teacher's kar batches of a session left this entity without an answer, if they did. */
  karBatchFailure(scope: { key: string; session: string }, index: number): Promise<StepFailure | undefined> {
    return karBatchFailure(this.store, scope, index);
  }

  /** Writes an entity's record and replaces its booking with what it used. */
  async saveEntity(key: string, record: EntityResult, charge: { runId: string; releaseCalls: number }, opts: { unrecorded?: boolean } = {}): Promise<{ outcome: RefineOutcome; attempts: number }> {
    const u = record.usage;
    // Both at once: a worker that dies with the charge stored and the record not leaves the entity to
    // be run again by the same execution, whose charge has the same id and counts once.
    const [rec] = await Promise.all([
      writeRecord(this.store, key, record, new Date(), opts.unrecorded ? { previous: null } : {}),
      this.budget.charge(charge.runId, { calls: u.calls, tokens: u.promptTokens + u.completionTokens }, charge.releaseCalls, record.workflowRunId),
    ]);
    return { outcome: rec.outcome, attempts: rec.attempts };
  }

  async assemble(input: {
    runId: string;
    key: string;
    ingestKey: string;
    domain: Domain;
    entities: EntityListOptions;
    strategy: 'iterative' | 'filter';
    failureLimit?: number | undefined;
  }): Promise<{ contentHash: string; summary: RefineSummary }> {
    const entities = await this.entities(input.ingestKey, input.domain, input.entities);
    return assembleRefineOutput({ store: this.store, key: input.key, entities, strategy: input.strategy, meta: { runId: input.runId }, failureLimit: input.failureLimit });
  }

  async prepareRerun(runId: string, domain: Domain): Promise<PreparedRerun> {
    const query = failedEntitiesQuery(runId, domain);
    const pointer = await readStagePointer(this.store, runId, domain);
    if (!pointer) return { found: false, query };
    const finetune = pointer.finetune ?? undefined;
    const key = refineStageKey(pointer.config, domain, pointer.ingest, finetune);
    const existing = await committedSummary(this.store, key);
    // A stage that never finished has no output to repair: run the stage (pipeline) instead.
    if (!existing) return { found: false, query };
    const scan = await scanRecords(this.store, key);
    return {
      found: true,
      key,
      ingestKey: pointer.ingest.key,
      config: pointer.config,
      work: await this.work(pointer.config, domain, pointer.ingest, finetune),
      artifact: { key, contentHash: existing.contentHash },
      summary: existing.summary,
      failed: scan.failed.map(({ entityId, index, outcome }) => ({ entityId, index, outcome })),
      query,
      stale: scan.newestUpdate !== null && scan.newestUpdate > existing.createdAt,
    };
  }

  /** Both domains' outputs as the one `refine` output encode reads (reused when it exists). */
  merge(parts: Record<Domain, Artifact>): Promise<{ key: string; contentHash: string; reused: boolean }> {
    return combineRefineOutputs(this.store, parts);
  }
}
