// refineKnowledgeWorkflow (per domain): every entity of the domain through refineEntityWorkflow, a
// bounded window at a time, continuing-as-new every `refine.batchPerRun` entities; then the entity
// records become the output's knowledge sets (kar, r2ec, r4ec) in the encode input format.
// - Skipped when its output exists; a run that stopped at the call cap continues once the cap has
//   room (same run id, same key): only the entities without a settled record are started.
// - Inactive users (active-user strategy) are `approximated` without a child.
// - `progress` query: { done, total, outcomes } from any run of the chain.
import { ApplicationFailure, continueAsNew, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { RefineSummary, RefineWork } from '../activities/refine';
import { zeroUsage, type LlmUsage, type StageTodo } from '../core/rules';
import { emptyCarry, trackProgress, type FanoutCarry } from './fanout';
import { preflightLlm } from './llm-preflight';
import { ensureAdapters, entityOptions, refineActivities, runRefineFanout } from './refine-shared';
import { r4ecAttributes } from './search-attributes';
import { runKarBatches } from './teacher-batch';
import { planOrMissing } from './stage-plan';
import type { DomainStageInput, StageResult } from './stage-types';

export interface RefineStageInput extends DomainStageInput {
  /** Set by continue-as-new: the plan, how far the fan-out got, and what the children used so far. */
  resume?: { plan: StageTodo<RefineWork>; carry: FanoutCarry; usage: LlmUsage; runs: number };
}

/** refine's block of the run summary; `llm` counts this execution's calls (0 when skipped). */
export type RefineStageSummary = Omit<RefineSummary, 'llm'> & { key: string; llm: LlmUsage; runs: number };

export async function refineKnowledgeWorkflow(input: RefineStageInput): Promise<StageResult<RefineStageSummary>> {
  const { runId, config, domain } = input;
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'refine', domain }));
  const { ingest, finetune } = input.artifacts;
  if (!ingest) throw ApplicationFailure.nonRetryable(`refine(${domain}) needs the ingest output; got ${Object.keys(input.artifacts).join(', ') || 'none'}`, 'MissingStageInput');
  const acts = refineActivities(config.queues.cpu.name, config.refine.heartbeatTimeoutSeconds);
  const state = { carry: input.resume?.carry ?? emptyCarry(), total: input.resume?.plan.work.total ?? 0 };
  trackProgress(state);

  const planned = input.resume?.plan ?? (await planOrMissing(acts.planRefine({ runId, domain, config, ingest, ...(finetune ? { finetune } : {}), lookupOnly: input.lookupOnly ?? false })));
  if (planned.status === 'done') {
    const s = planned.summary;
    state.total = s.entities;
    state.carry = { offset: s.entities, done: s.entities, outcomes: { ...s.outcomes } };
    return { artifact: planned.artifact, skipped: true, summary: { ...s, key: planned.key, llm: zeroUsage(), runs: 0 } };
  }
  const plan = planned;
  state.total = plan.work.total;
  if (!input.resume) {
    await preflightLlm(config);
    await ensureAdapters(config, plan.work.adapterJobKeys);
  }
  // kar on the teacher's Batch API: every entity's kar request in batches before the fan-out, whose
  // entities then find kar's answer in the cache (or its failure in the store), never asking it
  // synchronously. Not when kar takes the actor's answer (no teacher request at all).
  const karBatch = config.llm.teacher?.batch?.enabled === true && !plan.work.karFromActor ? { session: workflowInfo().firstExecutionRunId } : undefined;
  if (karBatch && !input.resume) {
    await runKarBatches({
      runId,
      key: plan.key,
      ingestKey: ingest.key,
      domain,
      entities: entityOptions(config),
      total: plan.work.total,
      model: plan.work.models.teacher,
      llm: config.llm,
      llmQueue: config.queues.llm.name,
      heartbeatTimeoutSeconds: config.refine.heartbeatTimeoutSeconds ?? 30,
      session: karBatch.session,
    });
  }

  const usage = input.resume?.usage ?? zeroUsage();
  const runs = (input.resume?.runs ?? 0) + 1;
  const r = await runRefineFanout({ runId, domain, config, plan, ingestKey: ingest.key, carry: state.carry, usage, ...(karBatch ? { karBatch } : {}) });
  state.carry = r.carry;
  trackProgress(state);
  if (!r.finished) return continueAsNew<typeof refineKnowledgeWorkflow>({ ...input, resume: { plan, carry: r.carry, usage, runs } });

  const done = await acts.assembleRefine({
    runId,
    key: plan.key,
    ingestKey: ingest.key,
    domain,
    entities: entityOptions(config),
    strategy: config.refine.strategy,
    failureLimit: config.refine.failureLimit,
  });
  state.carry = { ...state.carry, outcomes: { ...done.summary.outcomes } };
  return { artifact: { key: plan.key, contentHash: done.contentHash }, skipped: false, summary: { ...done.summary, key: plan.key, llm: usage, runs } };
}
