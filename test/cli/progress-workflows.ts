// Test-only workflows for the CLI's progress view: a pipeline that reports one running stage, stage
// workflows that answer `progress` and finish when signalled, and a job stage whose activity heartbeats.
import { condition, defineQuery, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { FanoutProgress } from '../../workflows/fanout';

const pipelineProgress = defineQuery<unknown>('progress');
const stageProgress = defineQuery<FanoutProgress>('progress');
export const finish = defineSignal('finish');

export async function fakePipelineWorkflow(input: { stage: string; startedAt: number }): Promise<void> {
  setHandler(pipelineProgress, () => ({ stages: { [input.stage]: { status: 'running', seconds: 0, skipped: false, selected: true, startedAt: input.startedAt } } }));
  let done = false;
  setHandler(finish, () => void (done = true));
  await condition(() => done);
}

/** A domain stage: `progress` says done/total until the signal, then it completes with done = total. */
export async function fakeDomainStageWorkflow(input: { done: number; total: number }): Promise<void> {
  let finished = false;
  setHandler(stageProgress, () => ({ done: finished ? input.total : input.done, total: input.total, outcomes: {} }));
  setHandler(finish, () => void (finished = true));
  await condition(() => finished);
}

export interface JobActivities {
  trainOne(input: { job: string; epoch: number; epochs: number }): Promise<void>;
}

/** A train-like stage: one job running in an activity that heartbeats its epoch. */
export async function fakeJobStageWorkflow(input: { job: string; epoch: number; epochs: number }): Promise<void> {
  setHandler(stageProgress, () => ({ done: 1, total: 3, outcomes: {}, running: [input.job] }));
  const { trainOne } = proxyActivities<JobActivities>({ startToCloseTimeout: '1 minute', heartbeatTimeout: '30 seconds' });
  await trainOne(input);
}
