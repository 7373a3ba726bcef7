// finetune stage: plan (datasets, base model, job keys) → one child workflow per LoRA job
// (`${runId}/finetune/${job}`, findable by R4ecStage=finetune + R4ecEntityId=job) that trains on the
// gpu queue and loads the adapter into the serving endpoint by name → commit the stage output.
// Cancelling a job's workflow (Web UI, `temporal workflow cancel`) stops its trainer; the checkpoint
// stays, so a rerun resumes from it.
import {
  ActivityCancellationType,
  ApplicationFailure,
  executeChild,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { FinetuneSummary, PlannedJob, SubmitLoraJobOutput, createAdapterServingActivities, createFinetuneActivities } from '../activities/finetune';
import type { R4ecConfig } from '../config/schema';
import type { BaseModelRef } from '../core/finetune';
import { workflowIds } from '../core/rules';
import { progressQuery } from './fanout';
import { r4ecAttributes } from './search-attributes';
import type { StageInput, StageResult } from './stage-types';

type FinetuneActivities = ReturnType<typeof createFinetuneActivities>;
type ServingActivities = ReturnType<typeof createAdapterServingActivities>;

/** Failure types no retry can fix (bad data, missing model, OOM at this batch size, provider refusal). */
const NON_RETRYABLE = ['InvalidActivityInput', 'BadDataset', 'EmptyDataset', 'MissingStageInput', 'BaseModelMissing', 'BadTrainerSpec', 'OutOfMemory', 'ProviderJobFailed', 'StageOutputMissing'];

export interface LoraJobWorkflowInput {
  runId: string;
  job: PlannedJob;
  finetune: R4ecConfig['finetune'];
  queues: { gpu: string; llm: string };
  baseModel: BaseModelRef;
}

export interface LoraJobWorkflowOutput {
  jobKey: string;
  servedName: string;
  reused: boolean;
  attached: boolean;
  loaded: boolean;
  wallSeconds: number;
}

export async function fineTuneWorkflow(input: StageInput): Promise<StageResult<FinetuneSummary>> {
  const { runId, config } = input;
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'finetune' }));
  const user = input.artifacts['construct:user'];
  const item = input.artifacts['construct:item'];
  if (!user || !item) {
    throw ApplicationFailure.nonRetryable(
      `finetune needs the construct outputs of both domains; got ${Object.keys(input.artifacts).join(', ') || 'none'}`,
      'MissingStageInput',
    );
  }
  const ft = config.finetune;
  // `progress`: jobs done of all, and the jobs not finished yet (the CLI reads their trainer's step
  // from each job workflow's pending activity).
  const progress = { done: 0, total: 0, running: [] as string[] };
  setHandler(progressQuery, () => ({ done: progress.done, total: progress.total, outcomes: {}, running: [...progress.running] }));
  const quick = proxyActivities<FinetuneActivities>({
    taskQueue: config.queues.gpu.name,
    // Building the tiny base model on a busy CPU and hashing datasets take minutes at most; the
    // activities beat from a side timer meanwhile, so a dead worker is noticed within the timeout.
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: `${ft.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const plan = await quick.planFinetune({ runId, finetune: ft, construct: { user, item }, lookupOnly: input.lookupOnly ?? false });
  if (plan.status === 'done') return { artifact: plan.artifact, skipped: true, summary: plan.summary };
  const { jobs, baseModel } = plan.work;

  // All jobs start at once; the gpu worker's slots decide how many train concurrently. Every job is
  // awaited (allSettled) so a failing one does not leave siblings terminated mid-step.
  progress.total = jobs.length;
  progress.running = jobs.map((j) => j.name);
  const settled = await Promise.allSettled(
    jobs.map((job) =>
      executeChild(loraJobWorkflow, {
        workflowId: workflowIds.loraJob(runId, job.name),
        taskQueue: config.queues.cpu.name,
        args: [{ runId, job, finetune: ft, queues: { gpu: config.queues.gpu.name, llm: config.queues.llm.name }, baseModel: baseModel! }],
        typedSearchAttributes: r4ecAttributes({ runId, stage: 'finetune', domain: job.domain, entityId: job.name }),
      }).finally(() => {
        progress.done++;
        progress.running = progress.running.filter((n) => n !== job.name);
      }),
    ),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;

  const done = await quick.commitFinetune({
    key: plan.key,
    runId,
    backend: ft.backend,
    baseModel: baseModel?.ref ?? null,
    jobs: jobs.map((j) => ({ name: j.name, jobKey: j.jobKey })),
  });
  return { artifact: { key: done.key, contentHash: done.contentHash }, skipped: false, summary: done.summary };
}

/** One LoRA job: train (or re-attach / reuse) on the gpu queue, then serve the adapter by name. */
export async function loraJobWorkflow(input: LoraJobWorkflowInput): Promise<LoraJobWorkflowOutput> {
  const ft = input.finetune;
  const train = proxyActivities<FinetuneActivities>({
    taskQueue: input.queues.gpu,
    startToCloseTimeout: '7 days',
    // The activity heartbeats every poll while it follows the trainer: a dead worker is noticed
    // within this, and a cancel reaches the activity on its next heartbeat.
    heartbeatTimeout: `${ft.heartbeatTimeoutSeconds} seconds`,
    // Wait for the trainer to stop and keep its checkpoint before the workflow reports cancelled.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: ft.maxAttempts, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const r: SubmitLoraJobOutput = await train.submitLoraJob({ runId: input.runId, job: input.job, finetune: ft, baseModel: input.baseModel });
  let loaded = false;
  if (r.entry.adapterKey) {
    const serve = proxyActivities<ServingActivities>({
      taskQueue: input.queues.llm,
      startToCloseTimeout: '5 minutes',
      heartbeatTimeout: `${ft.heartbeatTimeoutSeconds} seconds`,
      retry: { initialInterval: '1 second', maximumAttempts: 10, nonRetryableErrorTypes: ['MissingAdapter', 'LlmNotConfigured'] },
    });
    loaded = (await serve.loadFinetunedAdapter({ jobKey: r.entry.jobKey })).loaded;
  }
  return { jobKey: r.entry.jobKey, servedName: r.entry.servedName, reused: r.reused, attached: r.attached, loaded, wallSeconds: r.wallSeconds };
}
