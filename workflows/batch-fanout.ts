// The fan-out of a stage in batch mode (`entityWorkflows: failed`): the work list [0, total) is cut
// into batches of `batchSize` units, each run by one heartbeating activity, `batchWindow` at a time;
// the units a batch hands back as failed each run as their own entity workflow, `window` at a time,
// so every failed entity is in the Web UI with every prompt and answer. After `batchesPerRun`
// batches (or when the server suggests it) the caller continues-as-new with the carry; batches and
// children in flight are drained first, so no result is lost. The first failed batch or child (a
// rejected LLM request) stops the fan-out at once and fails the stage with its message. `progress`
// answers as in workflows/fanout.ts.
import { condition, workflowInfo } from '@temporalio/workflow';
import { stageFailure, trackProgress, type FanoutCarry, type FanoutRunResult } from './fanout';

export interface BatchOutcome<U> {
  /** Units settled in the batch, by outcome (failures excepted). */
  outcomes: Partial<Record<string, number>>;
  /** Units that still need their entity workflow. */
  failed: U[];
}

export interface BatchedFanoutOptions<U> {
  total: number;
  carry: FanoutCarry;
  batchSize: number;
  batchWindow: number;
  batchesPerRun: number;
  /** Entity workflows (of failed units) running at once. */
  window: number;
  /** Runs units [offset, offset+limit) in one activity. */
  runBatch(offset: number, limit: number): Promise<BatchOutcome<U>>;
  /** Runs one failed unit's entity workflow to completion and returns its outcome. */
  runChild(unit: U): Promise<string>;
}

export async function runBatchedFanout<U>(opts: BatchedFanoutOptions<U>): Promise<FanoutRunResult> {
  const { total, batchSize, batchWindow, batchesPerRun, window } = opts;
  if (![batchSize, batchWindow, batchesPerRun, window].every((n) => n >= 1)) {
    throw new RangeError(`batched fan-out needs batchSize, batchWindow, batchesPerRun and window >= 1 (got ${batchSize}, ${batchWindow}, ${batchesPerRun}, ${window})`);
  }
  const carry: FanoutCarry = { offset: opts.carry.offset, done: opts.carry.done, outcomes: { ...opts.carry.outcomes } };
  trackProgress({ carry, total });
  const count = (outcome: string, n = 1) => {
    carry.outcomes[outcome] = (carry.outcomes[outcome] ?? 0) + n;
    carry.done += n;
  };
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown) => {
    failure ??= { err };
  };
  let batches = 0;
  let children = 0;
  const queue: U[] = [];
  const pump = () => {
    while (children < window && queue.length > 0 && !failure) {
      const unit = queue.shift()!;
      children++;
      void opts
        .runChild(unit)
        .then((o) => count(o), fail)
        .finally(() => {
          children--;
          pump();
        });
    }
  };

  let next = carry.offset;
  for (let started = 0; next < total && started < batchesPerRun && !failure; started++) {
    await condition(() => batches < batchWindow || failure !== undefined);
    if (failure) break;
    const limit = Math.min(batchSize, total - next);
    batches++;
    void opts
      .runBatch(next, limit)
      .then((r) => {
        for (const [o, n] of Object.entries(r.outcomes)) if (n) count(o, n);
        queue.push(...r.failed);
        pump();
      }, fail)
      .finally(() => batches--);
    next += limit;
    if (workflowInfo().continueAsNewSuggested) break;
  }
  await condition(() => (batches === 0 && children === 0 && queue.length === 0) || failure !== undefined);
  if (failure) throw stageFailure(failure.err);
  carry.offset = next;
  return { finished: next >= total, carry };
}
