// Test-only workflows for the fan-out helper: a parent over a numbered work list, a child that
// holds a slot for a moment through an activity (so the test can see how many ran at once).
import { ApplicationFailure, continueAsNew, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { emptyCarry, runWindowedFanout, type FanoutCarry } from '../../workflows/fanout';

export interface FanoutTestActivities {
  listUnits(input: { offset: number; limit: number }): Promise<Array<{ id: string; doneOutcome?: string }>>;
  hold(input: { id: string; ms: number }): Promise<void>;
}

const { listUnits, hold } = proxyActivities<FanoutTestActivities>({ startToCloseTimeout: '1 minute' });

export interface FanoutParentInput {
  total: number;
  window: number;
  batchPerRun: number;
  holdMs: number;
  failId?: string;
  tolerateFailures?: boolean;
  carry?: FanoutCarry;
  runs?: number;
}

export async function fanoutParentWorkflow(input: FanoutParentInput): Promise<FanoutCarry & { runs: number }> {
  const parentId = workflowInfo().workflowId;
  const r = await runWindowedFanout({
    total: input.total,
    carry: input.carry ?? emptyCarry(),
    window: input.window,
    batchPerRun: input.batchPerRun,
    pageSize: 7,
    loadPage: (offset, limit) => listUnits({ offset, limit }),
    runChild: async (u) => (await executeChild(fanoutChildWorkflow, { workflowId: `${parentId}/${u.id}`, args: [{ id: u.id, ms: input.holdMs, fail: u.id === input.failId }] })).outcome,
    ...(input.tolerateFailures ? { onChildFailure: () => 'child_failed' } : {}),
  });
  const runs = (input.runs ?? 0) + 1;
  if (!r.finished) return continueAsNew<typeof fanoutParentWorkflow>({ ...input, carry: r.carry, runs });
  return { ...r.carry, runs };
}

export async function fanoutChildWorkflow(input: { id: string; ms: number; fail: boolean }): Promise<{ outcome: string }> {
  await hold({ id: input.id, ms: input.ms });
  if (input.fail) throw ApplicationFailure.nonRetryable(`child ${input.id} fails on purpose`);
  return { outcome: Number(input.id.slice(1)) % 3 === 0 ? 'three' : 'other' };
}
