// What refineKnowledgeWorkflow and rerunFailedRefineWorkflow share: the activity proxies, the
// per-entity constants, and the fan-out: batches of entities in heartbeating activities with an
// entity workflow for each failed one (workflows/batch-fanout.ts, the default), or a windowed
// fan-out of refineEntityWorkflow children over pages of entities (workflows/fanout.ts).
import { executeChild, proxyActivities } from '@temporalio/workflow';
import type { createAdapterServingActivities } from '../activities/finetune';
import type { RefineActivities, RefineUnit, RefineWork } from '../activities/refine';
import type { Domain } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { addUsage, heartbeatTimeout, workflowIds, type LlmUsage, type StageTodo } from '../core/rules';
import { batchActivities } from './batch-activities';
import { runBatchedFanout } from './batch-fanout';
import { runWindowedFanout, type FanoutCarry, type FanoutRunResult } from './fanout';
import { refineEntityWorkflow, type RefineEntityInput } from './refine-entity';
import { r4ecAttributes } from './search-attributes';

/** Refine's bookkeeping activities; they beat from a side timer, so a killed worker's share moves on within the heartbeat timeout. */
export function refineActivities(cpuQueue: string, heartbeatTimeoutSeconds: number | undefined) {
  return proxyActivities<RefineActivities>({
    taskQueue: cpuQueue,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: heartbeatTimeout(heartbeatTimeoutSeconds),
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
  });
}

/** Makes sure the endpoint serves the fine-tuned adapters (an endpoint restarted since finetune forgot them). */
export async function ensureAdapters(config: R4ecConfig, jobKeys: readonly string[]): Promise<void> {
  if (jobKeys.length === 0) return;
  const { loadFinetunedAdapter } = proxyActivities<ReturnType<typeof createAdapterServingActivities>>({
    taskQueue: config.queues.llm.name,
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: heartbeatTimeout(config.refine.heartbeatTimeoutSeconds),
    retry: { maximumAttempts: 5 },
  });
  for (const jobKey of jobKeys) await loadFinetunedAdapter({ jobKey });
}

export function entityOptions(config: R4ecConfig) {
  const f = config.train.knowledgeCutoff;
  return { historyLength: config.refine.historyLength, activeUserMinInteractions: config.refine.activeUserMinInteractions, ...(f > 0 ? { knowledgeCutoff: f } : {}) };
}

export interface RefineFanoutArgs {
  runId: string;
  domain: Domain;
  config: R4ecConfig;
  plan: Pick<StageTodo<RefineWork>, 'key' | 'work'>;
  ingestKey: string;
  carry: FanoutCarry;
  /** Adds up what the children report. */
  usage: LlmUsage;
  /** A rerun: exactly these dataset indices, redone whatever their record says. */
  indices?: readonly number[];
  /** kar went through the teacher's batches of this session: entities never ask it synchronously. */
  karBatch?: { session: string } | undefined;
}

/** One workflow run's share of the fan-out (the caller continues-as-new when `finished` is false). */
export async function runRefineFanout(a: RefineFanoutArgs): Promise<FanoutRunResult> {
  const { config, domain, runId } = a;
  const { key, work } = a.plan;
  const r = config.refine;
  const acts = refineActivities(config.queues.cpu.name, r.heartbeatTimeoutSeconds);
  const base: Omit<RefineEntityInput, 'entityId' | 'index' | 'sample'> = {
    runId,
    key,
    domain,
    catalogKey: a.ingestKey,
    strategy: r.strategy,
    maxIterations: r.maxIterations,
    filterSamples: r.filterSamples,
    models: work.models,
    llmQueue: config.queues.llm.name,
    formatRetries: config.llm.formatRetries,
    transport: config.llm.transport,
    callTimeoutMs: work.callTimeoutMs,
    cap: config.llm.cap,
    reserveCalls: work.reserveCalls,
    karFromActor: work.karFromActor,
    heartbeatTimeoutSeconds: r.heartbeatTimeoutSeconds,
    ...(a.karBatch ? { karBatch: a.karBatch } : {}),
  };
  const list = { runId, key, ingestKey: a.ingestKey, domain, entities: entityOptions(config), cap: config.llm.cap };
  const runChild = async (u: RefineUnit) => {
    const out = await executeChild(refineEntityWorkflow, {
      workflowId: workflowIds.refineEntity(runId, domain, u.entityId),
      taskQueue: config.queues.cpu.name,
      // An entity that failed in its batch books again for its workflow (which repeats only the
      // failed call, the rest being cache hits): the cap holds for every call, a second try included.
      args: [{ ...base, entityId: u.entityId, index: u.index, sample: u.sample! }],
      typedSearchAttributes: r4ecAttributes({ runId, stage: 'refine', domain, entityId: u.entityId }),
    });
    Object.assign(a.usage, addUsage(a.usage, out.usage));
    return out.outcome;
  };
  // A rerun names its entities and runs each as a workflow; a config from before batches (an input
  // of older code) has no entityWorkflows: a workflow per entity, as it ran.
  if (!a.indices && (r.entityWorkflows ?? 'all') === 'failed') {
    const batches = batchActivities(config.queues.llm.name, r.heartbeatTimeoutSeconds ?? 30);
    return runBatchedFanout<RefineUnit>({
      total: work.total,
      carry: a.carry,
      batchSize: r.batchSize,
      batchWindow: r.batchWindow,
      batchesPerRun: r.batchesPerRun,
      window: r.window,
      runBatch: async (offset, limit) => {
        const out = await batches.runRefineBatch({
          ...list,
          offset,
          limit,
          strategy: r.strategy,
          maxIterations: r.maxIterations,
          filterSamples: r.filterSamples,
          models: work.models,
          formatRetries: config.llm.formatRetries,
          transport: config.llm.transport,
          reserveCalls: work.reserveCalls,
          karFromActor: work.karFromActor,
          ...(a.karBatch ? { karBatch: a.karBatch } : {}),
        });
        Object.assign(a.usage, addUsage(a.usage, out.usage));
        return out;
      },
      runChild,
    });
  }
  return runWindowedFanout<RefineUnit>({
    total: a.indices ? a.indices.length : work.total,
    carry: a.carry,
    window: r.window,
    batchPerRun: r.batchPerRun,
    // Pages carry the prompt samples: keep each activity result well under the payload limit.
    pageSize: Math.min(r.batchPerRun, 100),
    loadPage: (offset, limit) => acts.listRefineEntities(a.indices ? { ...list, indices: a.indices.slice(offset, offset + limit) } : { ...list, offset, limit }),
    runChild,
  });
}
