// rerunFailedRefineWorkflow: `r4ec rerun --run X --failed` for refine. For each domain of run X
// (item first: approximated users are built from item knowledge), it finds the entities whose record
// says failed_format / failed_transport, starts a new refineEntityWorkflow for exactly those (same
// ids, `${runId}/refine/${domain}/${entityId}`; the LLM cache answers every call that had completed,
// and the simulator's per-occurrence faults let the failed ones succeed), then rewrites the refine
// output under the same key. Its content hash changes, so encode and train rerun when the pipeline
// is started again with the same run id.
import { continueAsNew, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { PreparedRerun } from '../activities/refine';
import type { Domain, RefineOutcome } from '../config/names';
import { failedEntitiesQuery, zeroUsage, type LlmUsage } from '../core/rules';
import { emptyCarry, trackProgress, type FanoutCarry } from './fanout';
import { preflightLlm } from './llm-preflight';
import { ensureAdapters, entityOptions, refineActivities, runRefineFanout } from './refine-shared';
import { r4ecAttributes } from './search-attributes';

export interface RerunFailedRefineInput {
  runId: string;
  /** Default: item, then user. */
  domains?: Domain[];
  resume?: { position: number; prepared: Extract<PreparedRerun, { found: true }>; carry: FanoutCarry; usage: LlmUsage; results: RerunFailedRefineOutput['domains'] };
}

export interface RerunDomainResult {
  /** Entities started again. */
  rerun: number;
  /** Their outcomes this time. */
  outcomes: Record<string, number>;
  /** The output's outcomes after the rewrite (all entities). */
  total: Record<RefineOutcome, number> | null;
  artifact: { key: string; contentHash: string } | null;
  previousContentHash: string | null;
  llm: LlmUsage;
}

export interface RerunFailedRefineOutput {
  runId: string;
  domains: Partial<Record<Domain, RerunDomainResult | { found: false }>>;
  /** The same question for the Web UI / `temporal workflow list --query` (both domains). */
  query: string;
}

export async function rerunFailedRefineWorkflow(input: RerunFailedRefineInput): Promise<RerunFailedRefineOutput> {
  const { runId } = input;
  const domains = input.domains ?? ['item', 'user'];
  const cpuQueue = workflowInfo().taskQueue;
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'refine' }));
  const results: RerunFailedRefineOutput['domains'] = { ...input.resume?.results };
  const state = { carry: input.resume?.carry ?? emptyCarry(), total: input.resume?.prepared.failed.length ?? 0 };
  trackProgress(state);
  for (let position = input.resume?.position ?? 0; position < domains.length; position++) {
    const domain = domains[position]!;
    const resumed = input.resume?.position === position ? input.resume : undefined;
    const prepared = resumed?.prepared ?? (await refineActivities(cpuQueue, undefined).prepareRefineRerun({ runId, domain }));
    if (!prepared.found) {
      results[domain] = { found: false };
      continue;
    }
    const { config, key, work } = prepared;
    // Children and bookkeeping run where this workflow runs (the deployment's cpu queue today).
    const cpu = { ...config, queues: { ...config.queues, cpu: { ...config.queues.cpu, name: cpuQueue } } };
    const previousContentHash = prepared.artifact.contentHash;
    if (prepared.failed.length === 0 && !prepared.stale) {
      results[domain] = { rerun: 0, outcomes: {}, total: prepared.summary.outcomes, artifact: prepared.artifact, previousContentHash, llm: zeroUsage() };
      continue;
    }
    state.total = prepared.failed.length;
    state.carry = resumed?.carry ?? emptyCarry();
    const usage = resumed?.usage ?? zeroUsage();
    const indices = prepared.failed.map((f) => f.index);
    // Nothing failed but records changed (entity workflows reset by hand): only rewrite the output.
    if (indices.length > 0) {
      if (!resumed) {
        await preflightLlm(cpu);
        await ensureAdapters(cpu, work.adapterJobKeys);
      }
      const r = await runRefineFanout({ runId, domain, config: cpu, plan: { key, work }, ingestKey: prepared.ingestKey, carry: state.carry, usage, indices });
      state.carry = r.carry;
      trackProgress(state);
      if (!r.finished) return continueAsNew<typeof rerunFailedRefineWorkflow>({ ...input, resume: { position, prepared, carry: r.carry, usage, results } });
    }
    const done = await refineActivities(cpuQueue, config.refine.heartbeatTimeoutSeconds).assembleRefine({ runId, key, ingestKey: prepared.ingestKey, domain, entities: entityOptions(config), strategy: config.refine.strategy });
    results[domain] = {
      rerun: indices.length,
      outcomes: { ...state.carry.outcomes },
      total: done.summary.outcomes,
      artifact: { key, contentHash: done.contentHash },
      previousContentHash,
      llm: usage,
    };
  }
  return { runId, domains: results, query: failedEntitiesQuery(runId) };
}
