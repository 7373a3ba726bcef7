// r4ecPipelineWorkflow: the DAG (core/rules/dag.ts) stage by stage, each a child workflow
// (workflows/stages.ts): ingest → construct(user, item) → finetune → refine(item, user) → encode →
// train → report. Its input is the plain JSON config, so operators can start it with
// `temporal workflow start --input-file cfg.json`; validation happens in the first activity.
import { ApplicationFailure, defineQuery, patched, TemporalFailure, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createPipelineActivities } from '../activities/pipeline';
import type { Stage } from '../config/names';
import { stagePlan, type StageSelection } from '../core/rules';
import { errorBlock, type ErrorBlock } from '../core/rules/error-block';
import { emptySummary, recordFailure, recordModels, recordMoney, recordOutputs, recordTiming, type KnowledgeImport, type RunSummary, type StageProgress } from './run-summary';
import { r4ecAttributes } from './search-attributes';
import { discardStage, STAGE_RUNNERS, type Artifacts } from './stages';

export type { KnowledgeImport, RunSummary, StageProgress, StageSelection };

/** What a run takes besides its config and stage selection. */
export interface PipelineOptions {
  /** Knowledge from files (`r4ec run --knowledge-from DIR`): construct, finetune and refine are skipped. */
  knowledgeImport?: KnowledgeImport;
}

/** The stages that call an LLM: the run's money is read after each. */
const MONEY_STAGES: ReadonlySet<Stage> = new Set(['construct', 'refine']);

export const progressQuery = defineQuery<{ runId: string; stages: Partial<Record<Stage, StageProgress>>; current?: Stage }>('progress');
export const summaryQuery = defineQuery<RunSummary>('summary');

export async function r4ecPipelineWorkflow(rawConfig: unknown, selection?: StageSelection | null, options?: PipelineOptions): Promise<RunSummary> {
  const runId = workflowInfo().workflowId;
  const { resolvePipelineConfig } = proxyActivities<ReturnType<typeof createPipelineActivities>>({
    startToCloseTimeout: '1 minute',
    // The config is not read yet, so no setting of it applies: a killed worker's attempt moves on after this.
    heartbeatTimeout: '20 seconds',
    retry: { maximumAttempts: 3 },
  });
  const { config, configHash, models } = await resolvePipelineConfig({ raw: rawConfig, runId });
  // Reads one usage record per call of the run: minutes for a large run on a remote store.
  const { summarizeRunMoney } = proxyActivities<ReturnType<typeof createPipelineActivities>>({
    taskQueue: config.queues.cpu.name,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 5 },
  });
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'pipeline' }));

  // Selected stages compute; the ones whose outputs they read are only looked up.
  const plan = stagePlan(selection ?? undefined, config);
  const imported = options?.knowledgeImport;
  if (imported) {
    // Every knowledge variant trained must be one of the imported sets: nothing else produces knowledge.
    const missing = config.train.variants.filter((v) => v !== 'base' && !(imported.sets as string[]).includes(v));
    if (missing.length) {
      throw ApplicationFailure.nonRetryable(`train.variants lists ${missing.join(', ')} but the imported knowledge holds only ${imported.sets.join(', ')}`, 'BadKnowledgeImport');
    }
  }
  const progress: Partial<Record<Stage, StageProgress>> = {};
  for (const { stage, lookupOnly } of plan) progress[stage] = { status: 'pending', seconds: 0, skipped: false, selected: !lookupOnly };
  const summary = emptySummary(runId, configHash);
  recordModels(summary, models);
  let artifacts: Artifacts = {};
  let current: Stage | undefined;
  setHandler(progressQuery, () => ({ runId, stages: progress, ...(current ? { current } : {}) }));
  setHandler(summaryQuery, () => summary);

  for (const { stage, lookupOnly, force } of plan) {
    current = stage;
    const p = progress[stage]!;
    p.status = 'running';
    const started = Date.now();
    p.startedAt = started;
    try {
      if (force) await discardStage(stage, { runId, config, lookupOnly, artifacts, summary, imported });
      const run = await STAGE_RUNNERS[stage]({ runId, config, lookupOnly, artifacts, summary, imported });
      recordOutputs(summary, run.outputs);
      artifacts = { ...artifacts, ...Object.fromEntries([...run.outputs, ...run.handover]) };
      p.skipped = run.skipped;
      p.status = p.skipped ? 'skipped' : 'completed';
      // Money next to tokens once an LLM stage ran (before the report, which shows it). Older runs replay without it.
      if (MONEY_STAGES.has(stage) && patched('run-money')) recordMoney(summary, await summarizeRunMoney({ runId, llm: config.llm }));
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
