// A deterministic, windowed fan-out of child workflows over a work list that lives in the store
// (the samples-typescript batch-sliding-window pattern). Shared by construct and refine.
//
// - The list never enters a payload: the caller's `loadPage(offset, limit)` (an activity) returns
//   the next units, so one stage handles millions of entities.
// - At most `window` children run at once (`condition`), and after `batchPerRun` units the caller
//   continues-as-new with the returned carry (offset + accumulated outcomes), keeping every run's
//   history small. Children in flight are drained before that, so no result is lost.
// - A unit whose outcome is already known (e.g. recorded in the store by an earlier, crashed run)
//   is counted without starting a child.
// - `progress` ({ done, total, outcomes }) answers from any run of the chain, so the CLI's progress
//   bar can query the stage workflow by its id.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, condition, defineQuery, patched, setHandler, workflowInfo } from '@temporalio/workflow';

export interface FanoutProgress {
  done: number;
  total: number;
  outcomes: Record<string, number>;
  /** Stages whose units are jobs (finetune, train): the names of the jobs running now. */
  running?: string[];
}

/** What continue-as-new carries from one run to the next. */
export interface FanoutCarry {
  /** Next unit index to load. */
  offset: number;
  /** Units finished so far (counted in `outcomes`). */
  done: number;
  outcomes: Record<string, number>;
}

export const progressQuery = defineQuery<FanoutProgress>('progress');

export function emptyCarry(): FanoutCarry {
  return { offset: 0, done: 0, outcomes: {} };
}

export interface FanoutUnit {
  /** Set when the unit's outcome is already known: counted, no child started. */
  doneOutcome?: string | undefined;
}

export interface FanoutOptions<U extends FanoutUnit> {
  /** Units in the whole work list (indices 0..total-1). */
  total: number;
  /** Where this run starts (from the previous run's carry, or emptyCarry()). */
  carry: FanoutCarry;
  /** Children running at once. */
  window: number;
  /** Units handled by one workflow run before the caller continues-as-new. */
  batchPerRun: number;
  /** Units loaded per `loadPage` call (default min(batchPerRun, 500)). */
  pageSize?: number;
  /** Units [offset, offset+limit) of the work list, in a fixed order. */
  loadPage(offset: number, limit: number): Promise<U[]>;
  /** Runs the unit's child workflow to completion and returns its outcome. */
  runChild(unit: U): Promise<string>;
  /** Outcome for a child that failed (default: the failure stops the fan-out at once and fails the stage). */
  onChildFailure?(unit: U, err: unknown): string;
}

export interface FanoutRunResult {
  /** True when every unit is done; false = continue-as-new with `carry`. */
  finished: boolean;
  carry: FanoutCarry;
}

/** Installs the `progress` query handler over a live carry (call before any long wait). */
export function trackProgress(state: { carry: FanoutCarry; total: number }): void {
  setHandler(progressQuery, () => ({ done: state.carry.done, total: state.total, outcomes: { ...state.carry.outcomes } }));
}

/** Patch: a failed child (or batch) stops the fan-out at once instead of after the children in flight. */
const FAIL_FAST = 'fanout-fail-fast';

/**
 * What a stage fails with when a child or batch failed: the root error's message and type (a
 * rejected LLM request: "LLM endpoint … answered 401 …"), not "Child Workflow execution failed".
 */
export function stageFailure(err: unknown): unknown {
  let e: unknown = err;
  while ((e instanceof ChildWorkflowFailure || e instanceof ActivityFailure) && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure && e !== err) return ApplicationFailure.create({ message: e.message, type: e.type ?? undefined, nonRetryable: true, details: e.details ? [...e.details] : undefined });
  return err;
}

export async function runWindowedFanout<U extends FanoutUnit>(opts: FanoutOptions<U>): Promise<FanoutRunResult> {
  if (!(opts.window >= 1) || !(opts.batchPerRun >= 1)) throw new RangeError(`fan-out needs window >= 1 and batchPerRun >= 1 (got ${opts.window}, ${opts.batchPerRun})`);
  const carry: FanoutCarry = { offset: opts.carry.offset, done: opts.carry.done, outcomes: { ...opts.carry.outcomes } };
  const state = { carry, total: opts.total };
  trackProgress(state);
  const pageSize = Math.max(1, opts.pageSize ?? Math.min(opts.batchPerRun, 500));
  const end = Math.min(opts.total, carry.offset + opts.batchPerRun);
  let inFlight = 0;
  let failure: { err: unknown; now: boolean } | undefined;
  const count = (outcome: string) => {
    carry.outcomes[outcome] = (carry.outcomes[outcome] ?? 0) + 1;
    carry.done++;
  };

  let next = carry.offset;
  while (next < end && !failure) {
    const page = await opts.loadPage(next, Math.min(pageSize, end - next));
    if (page.length === 0) throw new Error(`fan-out: loadPage(${next}, …) returned no units but ${opts.total} were announced`);
    for (const unit of page) {
      if (unit.doneOutcome !== undefined) {
        count(unit.doneOutcome);
        continue;
      }
      await condition(() => inFlight < opts.window || failure !== undefined);
      if (failure) break;
      inFlight++;
      void opts
        .runChild(unit)
        .then(
          (outcome) => count(outcome),
          (err: unknown) => {
            if (opts.onChildFailure) count(opts.onChildFailure(unit, err));
            // Histories from before this patch waited for the children in flight first.
            else failure ??= { err, now: patched(FAIL_FAST) };
          },
        )
        .finally(() => inFlight--);
    }
    next += page.length;
    // continue-as-new only at a page boundary, so the carry's offset is exact.
    if (workflowInfo().continueAsNewSuggested && next < opts.total) break;
  }
  await condition(() => inFlight === 0 || failure?.now === true);
  if (failure) throw stageFailure(failure.err);
  carry.offset = next;
  return { finished: next >= opts.total, carry };
}
