// construct stage (Algorithm 1) for one domain: plan (skips when the output exists; samples 40% of
// the entities, seeded) → one child workflow per (entity, k) in a bounded window with
// continue-as-new (workflows/fanout.ts), or, by default, batches of inferences in heartbeating
// activities with a workflow only for each failed inference (workflows/batch-fanout.ts) → assemble
// D_reason, D_reflect, D_refine and the report.
// `progress` ({ done, total, outcomes }) answers on `${runId}/construct/${domain}`.
import { ApplicationFailure, continueAsNew, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { ConstructSummary, ConstructUnit, ConstructWork, createConstructActivities } from '../activities/construct';
import { heartbeatTimeout, type StageTodo } from '../core/rules';
import { inferenceChild } from './construct-shared';
import { batchActivities } from './batch-activities';
import { runBatchedFanout } from './batch-fanout';
import { emptyCarry, runWindowedFanout, trackProgress, type FanoutCarry } from './fanout';
import { preflightLlm } from './llm-preflight';
import { r4ecAttributes } from './search-attributes';
import { planOrMissing } from './stage-plan';
import { runTeacherBatches } from './teacher-batch';
import type { DomainStageInput, StageResult } from './stage-types';

export type { ConstructSummary };

export interface ConstructStageInput extends DomainStageInput {
  /** Set by continue-as-new: the plan and how far the fan-out got. */
  resume?: { plan: StageTodo<ConstructWork>; carry: FanoutCarry };
  /** Set by continue-as-new during the teacher's batch rounds: the plan and the round to go on with. */
  teacherBatch?: { plan: StageTodo<ConstructWork>; round: number };
}

export async function constructDatasetWorkflow(input: ConstructStageInput): Promise<StageResult<ConstructSummary>> {
  const { runId, domain, config } = input;
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'construct', domain }));
  const ingest = input.artifacts.ingest;
  if (!ingest) throw ApplicationFailure.nonRetryable(`construct (${domain}) needs the ingest output; got ${Object.keys(input.artifacts).join(', ') || 'none'}`, 'MissingStageInput');
  const acts = proxyActivities<ReturnType<typeof createConstructActivities>>({
    taskQueue: config.queues.cpu.name,
    startToCloseTimeout: '30 minutes',
    // Plans, pages and the assembly beat from a side timer: a killed worker's share moves on quickly.
    heartbeatTimeout: heartbeatTimeout(config.construct.heartbeatTimeoutSeconds),
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidActivityInput', 'StageOutputMissing', 'ConstructIncomplete', 'StageFailureLimit'] },
  });
  const progress = { carry: input.resume?.carry ?? emptyCarry(), total: input.resume?.plan.work.units ?? 0 };
  trackProgress(progress);

  let plan = input.resume?.plan ?? input.teacherBatch?.plan;
  if (!plan) {
    const planned = await planOrMissing(acts.planConstruction({ runId, domain, construct: config.construct, llm: config.llm, ingest, lookupOnly: input.lookupOnly ?? false, queues: config.queues, ...(config.train.knowledgeCutoff > 0 ? { knowledgeCutoff: config.train.knowledgeCutoff } : {}) }));
    if (planned.status === 'done') return { artifact: planned.artifact, skipped: true, summary: planned.summary };
    plan = planned;
    progress.total = plan.work.units;
    await preflightLlm(config);
  }
  const K = config.construct.inferencesPerSample;
  const { workKey, units } = plan.work;
  const c = config.construct;
  const batches = batchActivities(config.queues.llm.name, c.heartbeatTimeoutSeconds);
  const runChild = inferenceChild({
    runId,
    domain,
    workKey,
    datasetKey: ingest.key,
    llm: config.llm,
    cpuQueue: config.queues.cpu.name,
    llmQueue: config.queues.llm.name,
    heartbeatTimeoutSeconds: c.heartbeatTimeoutSeconds,
  });
  // The Batch API path: every teacher call goes out in batches, and every unit is recorded by the
  // rounds (a failure there is final: its transport budget is spent); the fan-out below then only
  // counts the records, sending nothing.
  const batchPath = Boolean(config.llm.teacher?.batch?.enabled);
  if (batchPath && !input.resume) {
    const tb = await runTeacherBatches({
      runId,
      domain,
      workKey,
      datasetKey: ingest.key,
      inferencesPerSample: K,
      llm: config.llm,
      llmQueue: config.queues.llm.name,
      heartbeatTimeoutSeconds: c.heartbeatTimeoutSeconds,
      fromRound: input.teacherBatch?.round,
    });
    if (tb.continueAt !== undefined) return continueAsNew<typeof constructDatasetWorkflow>({ ...input, teacherBatch: { plan, round: tb.continueAt } });
  }
  // A config from before batches (an input of older code) has no entityWorkflows: a workflow per inference.
  const r =
    // On the batch path every unit is recorded (or skipped at the cap): the batches only count them.
    batchPath || (c.entityWorkflows ?? 'all') === 'failed'
      ? await runBatchedFanout({
          total: units,
          carry: progress.carry,
          batchSize: c.batchSize,
          batchWindow: c.batchWindow,
          batchesPerRun: c.batchesPerRun,
          window: c.window,
          runBatch: (offset, limit) =>
            batches.runConstructBatch({
              runId,
              domain,
              workKey,
              datasetKey: ingest.key,
              offset,
              limit,
              inferencesPerSample: K,
              formatRetries: config.llm.formatRetries,
              transport: config.llm.transport,
              cap: config.llm.cap,
              prices: config.llm.prices,
            }),
          runChild,
        })
      : await runWindowedFanout<ConstructUnit>({
          total: units,
          carry: progress.carry,
          window: c.window,
          batchPerRun: c.batchPerRun,
          loadPage: (offset, limit) => acts.loadConstructPage({ workKey, offset, limit, inferencesPerSample: K }),
          runChild,
        });
  if (!r.finished) return continueAsNew<typeof constructDatasetWorkflow>({ ...input, resume: { plan, carry: r.carry } });

  const done = await acts.assembleConstruction({
    key: plan.key,
    workKey,
    domain,
    inferencesPerSample: K,
    teacher: { model: config.llm.teacher?.model ?? config.llm.simulator.model, simulator: config.llm.teacher === undefined },
    failureLimit: config.construct.failureLimit,
  });
  return { artifact: { key: done.key, contentHash: done.contentHash }, skipped: false, summary: done.summary };
}
