// One construction inference (Algorithm 1 once, request seed k) as its own child workflow
// `${runId}/construct/${domain}/${entityId}/${k}`: reason → reflect → (refine), every teacher call
// its own activity on the llm queue, so the Web UI shows each prompt and answer. The outcome is
// recorded in the store with its reason and set as the R4ecOutcome search attribute.
import { ActivityFailure, ApplicationFailure, patched, proxyActivities, proxyLocalActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createConstructActivities } from '../activities/construct';
import type { CallLlmOutput, createLlmActivities } from '../activities/llm';
import type { ConstructOutcome, Domain } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import type { InferenceSteps, PlanEntry } from '../core/construct';
import type { PromptSpec } from '../core/prompts/builders';
import { addUsage, callTimeoutMs, runConstructChain, zeroUsage, type ConstructCallFailure } from '../core/rules';
import { SA } from './search-attributes';

/** Patch: a non-retryable teacher failure fails the inference (and the stage) instead of recording failed_transport. */
const REJECTED_STOPS_STAGE = 'construct-rejected-request-stops-stage';
/** Patch: the run-level call cap (`llm.cap`) books and charges inference workflows too. */
const CAPPED_INFERENCE = 'construct-inference-call-cap';
/** Algorithm 1's fewest calls (reason, reflect): what an inference books before it starts. */
const MIN_CALLS = 2;

export interface ConstructInferenceInput {
  runId: string;
  domain: Domain;
  workKey: string;
  datasetKey: string;
  planIndex: number;
  k: number;
  entry: PlanEntry;
  llm: R4ecConfig['llm'];
  llmQueue: string;
  heartbeatTimeoutSeconds: number;
}

export interface ConstructInferenceResult {
  outcome: ConstructOutcome;
  reason: string;
}

export async function constructInferenceWorkflow(input: ConstructInferenceInput): Promise<ConstructInferenceResult> {
  const { llm } = input;
  const local = proxyLocalActivities<ReturnType<typeof createConstructActivities>>({
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidActivityInput', 'ConstructPlanError'] },
  });
  const { askTeacher } = proxyActivities<ReturnType<typeof createLlmActivities>>({
    taskQueue: input.llmQueue,
    startToCloseTimeout: callTimeoutMs(llm, 'teacher'),
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: {
      maximumAttempts: llm.transport.maxAttempts,
      initialInterval: llm.transport.initialIntervalMs,
      backoffCoefficient: llm.transport.backoffCoefficient,
      maximumInterval: llm.transport.maximumIntervalMs,
      nonRetryableErrorTypes: ['InvalidActivityInput', 'InvalidPrompt', 'LlmNotConfigured', 'LlmRequestRejected'],
    },
  });

  const { sample, reasonSpec } = await local.loadConstructSample({ datasetKey: input.datasetKey, domain: input.domain, entry: input.entry });
  const usage = zeroUsage();
  const steps: InferenceSteps = {};
  const record = async (outcome: ConstructOutcome, reason: string) => {
    // The record may downgrade a kept answer that cannot form a valid fine-tuning record.
    const recorded = await local.recordInference({
      workKey: input.workKey,
      workflowId: workflowInfo().workflowId,
      planIndex: input.planIndex,
      k: input.k,
      seed: input.k,
      sample,
      outcome,
      reason,
      steps,
      usage,
      execution: workflowInfo().runId,
    });
    upsertSearchAttributes([{ key: SA.outcome, value: recorded.outcome }]);
    return recorded;
  };

  // The run-level cap, as in a batch: reached, the inference is recorded skipped_call_cap unasked.
  const cap = llm.cap;
  const capped = (cap.maxCalls !== undefined || cap.maxTokens !== undefined || cap.maxUsd !== undefined) && patched(CAPPED_INFERENCE);
  const chargeId = `construct-inference-${workflowInfo().runId}`;
  if (capped && !(await local.reserveConstructCalls({ runId: input.runId, cap, calls: MIN_CALLS, bookingId: chargeId })).granted) {
    return record('skipped_call_cap', 'the run-level LLM cap (llm.cap) is reached: not asked');
  }

  const ask = async (step: 'reason' | 'reflect' | 'refine', prompt: PromptSpec): Promise<Extract<CallLlmOutput, { status: 'ok' }>['answer'] | ConstructCallFailure> => {
    let r: CallLlmOutput;
    try {
      r = await askTeacher({
        runId: input.runId,
        stage: 'construct',
        role: 'teacher',
        domain: input.domain,
        entityId: input.entry.entityId,
        // Request seed: the inference number k (Algorithm 1 runs twice per sample, seeds 0 and 1).
        seed: input.k,
        prompt,
        catalogKey: input.datasetKey,
        formatRetries: llm.formatRetries,
      });
    } catch (e) {
      if (!(e instanceof ActivityFailure)) throw e;
      // A rejected request (bad key, unknown model, bad prompt) is the same for every inference: it
      // fails the inference workflow, and so the stage, instead of being recorded and repeated.
      // Older histories recorded it as failed_transport: they replay that way.
      if (e.cause instanceof ApplicationFailure && e.cause.nonRetryable && patched(REJECTED_STOPS_STAGE)) throw e;
      const cause = e.cause instanceof ApplicationFailure ? `${e.cause.type ?? 'error'}: ${e.cause.message}` : (e.cause?.message ?? e.message);
      return { failed: 'failed_transport', reason: `${step}: ${cause} (retry policy exhausted: ${llm.transport.maxAttempts} attempts)` };
    }
    Object.assign(usage, addUsage(usage, r.usage));
    if (r.status === 'failed_format') return { failed: 'failed_format', reason: `${step}: ${r.code}: ${r.error} (after ${r.formatAttempts} attempts)` };
    return r.answer;
  };

  const decision = await runConstructChain(sample.label, reasonSpec, ask, steps);
  if (capped) {
    // What the inference used replaces its booking, once per execution.
    await local.chargeConstructCalls({
      runId: input.runId,
      chargeId,
      usage,
      releaseCalls: MIN_CALLS,
      ...(llm.teacher ? { teacherModel: llm.teacher.model } : {}),
      prices: llm.prices,
    });
  }
  return record(decision.outcome, decision.reason);
}
