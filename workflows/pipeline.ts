// r4ecPipelineWorkflow: the DAG (core/rules/dag.ts) stage by stage, each a child workflow
// (workflows/stages.ts): ingest → construct(user, item) → finetune → refine(item, user) → encode →
// train → report. Its input is the plain JSON config, so operators can start it with
// `temporal workflow start --input-file cfg.json`; validation happens in the first activity.
import { ApplicationFailure, defineQuery, TemporalFailure, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createPipelineActivities } from '../activities/pipeline';
import type { Stage } from '../config/names';
import { stagePlan, type StageSelection } from '../core/rules';
import { errorBlock, type ErrorBlock } from '../core/rules/error-block';
import { emptySummary, recordFailure, recordModels, recordOutputs, recordTiming, type RunSummary, type StageProgress } from './run-summary';
import { r4ecAttributes } from './search-attributes';
import { STAGE_RUNNERS, type Artifacts } from './stages';

export type { RunSummary, StageProgress, StageSelection };

export const progressQuery = defineQuery<{ runId: string; stages: Partial<Record<Stage, StageProgress>>; current?: Stage }>('progress');
export const summaryQuery = defineQuery<RunSummary>('summary');

export async function r4ecPipelineWorkflow(rawConfig: unknown, selection?: StageSelection): Promise<RunSummary> {
  const runId = workflowInfo().workflowId;
  const { resolvePipelineConfig } = proxyActivities<ReturnType<typeof createPipelineActivities>>({
    startToCloseTimeout: '1 minute',
    // The config is not read yet, so no setting of it applies: a killed worker's attempt moves on after this.
    heartbeatTimeout: '20 seconds',
    retry: { maximumAttempts: 3 },
  });
  const { config, configHash, models } = await resolvePipelineConfig({ raw: rawConfig, runId });
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'pipeline' }));

  // Selected stages compute; the ones whose outputs they read are only looked up.
  const plan = stagePlan(selection, config);
  const progress: Partial<Record<Stage, StageProgress>> = {};
  for (const { stage, lookupOnly } of plan) progress[stage] = { status: 'pending', seconds: 0, skipped: false, selected: !lookupOnly };
  const summary = emptySummary(runId, configHash);
  recordModels(summary, models);
  let artifacts: Artifacts = {};
  let current: Stage | undefined;
  setHandler(progressQuery, () => ({ runId, stages: progress, ...(current ? { current } : {}) }));
  setHandler(summaryQuery, () => summary);

  for (const { stage, lookupOnly } of plan) {
    current = stage;
    const p = progress[stage]!;
    p.status = 'running';
    const started = Date.now();
    p.startedAt = started;
    try {
      const run = await STAGE_RUNNERS[stage]({ runId, config, lookupOnly, artifacts, summary });
      recordOutputs(summary, run.outputs);
      artifacts = { ...artifacts, ...Object.fromEntries([...run.outputs, ...run.handover]) };
      p.skipped = run.skipped;
      p.status = p.skipped ? 'skipped' : 'completed';
    } catch (err) {
      p.status = 'failed';
      p.seconds = (Date.now() - started) / 1000;
      const why = failureOf(err);
      recordFailure(summary, stage, p.seconds, why.message, why.block);
      throw ApplicationFailure.nonRetryable(`stage ${stage} failed: ${why.message}`, 'StageFailed', summary);
    }
    p.seconds = (Date.now() - started) / 1000;
    recordTiming(summary, stage, { status: p.status, seconds: p.seconds, skipped: p.skipped });
  }
  current = undefined;
  return summary;
}

/**
 * Why a stage failed: the innermost failure under the child workflow and activity failures that wrap
 * it (an ingest DataError arrives as ChildWorkflowFailure → ActivityFailure → ApplicationFailure whose
 * type is the error's code and whose details are its facts: file, line, field, suggestion).
 */
function failureOf(err: unknown): { message: string; block: ErrorBlock } {
  let e: unknown = err;
  while (e instanceof TemporalFailure && e.cause) e = e.cause;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof ApplicationFailure) return { message, block: errorBlock(e.type ?? 'ApplicationFailure', message, e.details?.[0]) };
  return { message, block: errorBlock(e instanceof Error ? e.name : 'unknown', message) };
}
