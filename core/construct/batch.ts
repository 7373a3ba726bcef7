// A batch of construction inferences run in one activity: units [offset, offset+limit) of the plan,
// each one pass of Algorithm 1 (core/rules runConstructChain, the inference workflow's own code)
// with the teacher asked in-process through the LLM client, and its record written as it finishes.
// Units recorded earlier (a retried batch, a re-run stage) are counted, not redone. An inference
// that ends failed_format / failed_transport is handed back: the stage runs it as its own inference
// workflow, so the Web UI shows it with every prompt and answer.
import type { ConstructOutcome, Domain } from '../../config/names';
import { askPrompt, withTransportRetries, type TransportPolicy } from '../llm/ask-prompt';
import { LlmError } from '../llm/errors';
import type { ParsedAnswer } from '../llm/parse';
import { addUsage, runConstructChain, workflowIds, zeroUsage, type ConstructCallFailure, type LlmUsage } from '../rules';
import { runBatchUnits, type BatchHooks, type BatchLlm } from '../stage/batch';
import type { ArtifactStore } from '../store';
import type { ModelPrice } from '../../config/schema';
import { costUsd, priceFor, priceTable } from '../llm/prices';
import { hasCap, LlmBudget, type LlmCap } from '../refine/budget';
import type { InferenceSteps } from './records';
import { datasetFor, isFailedConstructOutcome, loadUnits, recordInference, sampleOf, type ConstructUnit } from './work';

export interface ConstructBatchInput {
  runId: string;
  domain: Domain;
  workKey: string;
  datasetKey: string;
  /** Units [offset, offset+limit) of the plan (unit u = plan entry ⌊u/K⌋, inference u mod K). */
  offset: number;
  limit: number;
  inferencesPerSample: number;
  formatRetries: number;
  transport: TransportPolicy;
  /** The run-level cap (`llm.cap`): a unit that would pass it is recorded as skipped_call_cap, unasked. */
  cap?: LlmCap | undefined;
  /** `llm.prices`, for the money cap. */
  prices?: Record<string, ModelPrice> | undefined;
  /** The teacher costs nothing (the simulator plays it). */
  freeTeacher?: boolean | undefined;
}

/** Algorithm 1's fewest calls (reason, reflect): what a unit books against the cap before it starts. */
const MIN_CALLS = 2;

export interface ConstructBatchResult {
  /** Outcomes of the units settled here (finished now or recorded earlier), failures excepted. */
  outcomes: Partial<Record<ConstructOutcome, number>>;
  /** Units that ended failed_format / failed_transport: each still needs its inference workflow. */
  failed: ConstructUnit[];
  /** Calls this batch made. */
  usage: LlmUsage;
}

export async function runConstructBatch(store: ArtifactStore, llm: BatchLlm, input: ConstructBatchInput, hooks: BatchHooks): Promise<ConstructBatchResult> {
  const units = await loadUnits(store, input.workKey, input.offset, input.limit, input.inferencesPerSample);
  const result: ConstructBatchResult = { outcomes: {}, failed: [], usage: zeroUsage() };
  const count = (o: ConstructOutcome) => (result.outcomes[o] = (result.outcomes[o] ?? 0) + 1);
  const todo: ConstructUnit[] = [];
  for (const u of units) {
    if (u.doneOutcome !== undefined) count(u.doneOutcome as ConstructOutcome);
    else if (u.failedInBatch !== undefined) result.failed.push(u);
    else todo.push(u);
  }
  if (todo.length === 0) return result;
  const ds = await datasetFor(store, input.datasetKey);
  await llm.prepare?.('teacher', input.datasetKey);
  const client = llm.client('teacher');
  const cap = input.cap && hasCap(input.cap) ? input.cap : undefined;
  const budget = cap ? new LlmBudget(store) : undefined;
  const price = input.freeTeacher ? undefined : priceFor(client.endpoint.model, priceTable(input.prices));

  const outcomes = await runBatchUnits(todo, hooks, async (unit, signal, stop) => {
    const { sample, reasonSpec } = sampleOf(ds, input.domain, unit.entry);
    const usage = zeroUsage();
    const steps: InferenceSteps = {};
    const workflowId = workflowIds.constructInference(input.runId, input.domain, unit.entry.entityId, unit.k);
    if (budget && cap && !(await budget.reserve(input.runId, cap, MIN_CALLS, `construct-${hooks.execution}-${unit.planIndex}-${unit.k}`)).granted) {
      const skipped = await recordInference(store, { workKey: input.workKey, workflowId, planIndex: unit.planIndex, k: unit.k, seed: unit.k, sample, outcome: 'skipped_call_cap', reason: 'the run-level LLM cap (llm.cap) is reached: not asked', steps, usage, execution: hooks.execution });
      return skipped.outcome;
    }
    const ask = async (step: 'reason' | 'reflect' | 'refine', prompt: Parameters<typeof askPrompt>[1]['prompt']): Promise<ParsedAnswer | ConstructCallFailure> => {
      const meta = { runId: input.runId, stage: 'construct', role: 'teacher', domain: input.domain, entityId: unit.entry.entityId };
      let r;
      try {
        // Request seed: the inference number k, as in the inference workflow.
        r = await withTransportRetries(input.transport, () => askPrompt(client, { prompt, seed: unit.k, formatRetries: input.formatRetries, signal, meta, onRejected: stop }), signal);
      } catch (e) {
        // Retryable and out of attempts: this inference's outcome. Anything else ends the batch.
        if (e instanceof LlmError && e.retryable && !signal.aborted) {
          return { failed: 'failed_transport', reason: `${step}: ${e.code}: ${e.message} (retry policy exhausted: ${input.transport.maxAttempts} attempts)` };
        }
        throw e;
      }
      Object.assign(usage, addUsage(usage, r.usage));
      if (r.status === 'failed_format') return { failed: 'failed_format', reason: `${step}: ${r.code}: ${r.error} (after ${r.formatAttempts} attempts)` };
      return r.value;
    };
    let decision;
    try {
      decision = await runConstructChain(sample.label, reasonSpec, ask, steps);
    } finally {
      // What the unit used replaces its booking (once per execution of the unit).
      if (budget) {
        const usd = price ? costUsd(usage, price, 'sync') : 0;
        await budget.charge(input.runId, { calls: usage.calls, tokens: usage.promptTokens + usage.completionTokens, usd }, MIN_CALLS, `construct-${hooks.execution}-${unit.planIndex}-${unit.k}`);
      }
    }
    const recorded = await recordInference(store, {
      workKey: input.workKey,
      workflowId,
      planIndex: unit.planIndex,
      k: unit.k,
      seed: unit.k,
      sample,
      outcome: decision.outcome,
      reason: decision.reason,
      steps,
      usage,
      execution: hooks.execution,
    });
    Object.assign(result.usage, addUsage(result.usage, usage));
    return recorded.outcome;
  });
  todo.forEach((u, i) => {
    const o = outcomes[i]!;
    if (isFailedConstructOutcome(o)) result.failed.push({ ...u, failedInBatch: o });
    else count(o);
  });
  return result;
}
