// train stage: the floor and backbones × feature sets × variants × seeds on the gpu queue, at most
// `queues.gpu.slots` trainers at a time, then one summary. Each job's output has its own key, so a
// rerun trains only what is missing, and a crashed trainer resumes from its epoch checkpoint.
import { ApplicationFailure, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { createTrainActivities } from '../activities/train';
import type { JobOutcome, TrainJob, TrainSummary } from '../core/ctr/jobs';
import { progressQuery } from './fanout';
import { r4ecAttributes } from './search-attributes';
import type { StageInput, StageResult } from './stage-types';

type TrainActivities = ReturnType<typeof createTrainActivities>;

const NON_RETRYABLE = ['InvalidActivityInput', 'MissingStageInput', 'DataError', 'SpecError', 'CheckpointError', 'StageOutputMissing'];

export async function trainBackbonesWorkflow(input: StageInput): Promise<StageResult<TrainSummary>> {
  upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'train' }));
  const { ingest, encode } = input.artifacts;
  if (!ingest) throw ApplicationFailure.nonRetryable('train needs the ingest output', 'MissingStageInput');
  const train = input.config.train;
  const queue = input.config.queues.gpu;
  const quick = proxyActivities<TrainActivities>({
    taskQueue: queue.name,
    startToCloseTimeout: '30 minutes',
    // Plan and collection beat from a side timer: a dead worker is noticed within the timeout.
    heartbeatTimeout: `${train.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });
  const long = proxyActivities<TrainActivities>({
    taskQueue: queue.name,
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: `${train.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '5 seconds', maximumInterval: '2 minutes', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  });

  const common = { runId: input.runId, train, ingest, ...(encode ? { encode } : {}) };
  const plan = await quick.planTraining({ ...common, lookupOnly: input.lookupOnly ?? false });
  if (plan.status === 'done') return { artifact: plan.artifact, skipped: true, summary: plan.summary };
  const { jobs, names } = plan.work;

  const outcomes: JobOutcome[] = new Array(jobs.length);
  // `progress`: models trained of all, and the ones training now (the CLI adds each one's epoch
  // from the heartbeat of its pending activity).
  const progress = { done: 0, running: [] as string[] };
  setHandler(progressQuery, () => ({ done: progress.done, total: jobs.length, outcomes: {}, running: [...progress.running] }));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job: TrainJob = jobs[i]!;
      const name = names[i] ?? `job ${i}`;
      progress.running.push(name);
      const r = await long.trainBackbone({ ...common, job });
      progress.running = progress.running.filter((n) => n !== name);
      progress.done++;
      outcomes[i] = { job, key: r.key, metrics: r.metrics };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(queue.slots, jobs.length)) }, worker));

  const done = await quick.collectTraining({ key: plan.key, train, outcomes });
  return { artifact: { key: done.key, contentHash: done.contentHash }, skipped: false, summary: done.summary };
}
