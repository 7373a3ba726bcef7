// The construct stage's teacher calls on the Batch API (`llm.teacher.batch.enabled`): rounds of
// prepare → submit → (sleep, poll)… → collect, each a short activity on the llm queue; the waits are
// workflow timers, so a batch that takes hours holds no worker. Each round asks the teacher the
// next call of every unit still waiting (the synchronous path's exact requests, answered into the
// same cache) and records the units whose calls are all answered; the rounds end when every unit is
// recorded (or left at the call cap). A cancelled stage cancels the run's open batches before it
// ends (a cleanup no cancellation can stop).
import { ApplicationFailure, CancellationScope, isCancellation, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
// A round's files and batches are found again from the store and by metadata, so a continue-as-new
// in the middle of a round loses nothing: the next run prepares (reads) and submits (finds) it again.
import type { TeacherBatchActivities } from '../activities/teacher-batch';
import type { Domain } from '../config/names';
import type { R4ecConfig } from '../config/schema';

export interface TeacherBatchInput {
  runId: string;
  domain: Domain;
  workKey: string;
  datasetKey: string;
  inferencesPerSample: number;
  llm: R4ecConfig['llm'];
  llmQueue: string;
  heartbeatTimeoutSeconds: number;
  /** The round to go on with after a continue-as-new (default 1). */
  fromRound?: number | undefined;
}

export interface TeacherBatchResult {
  rounds: number;
  requests: number;
  /** Units left without an answer at the call cap. */
  skipped: number;
  /** Set when the history grew long: the caller continues-as-new and calls again from this round. */
  continueAt?: number;
}

/** Each of Algorithm 1's three calls settles within formatRetries + transport attempts + 1 rounds. */
const maxRounds = (llm: R4ecConfig['llm']) => 3 * (llm.formatRetries + llm.transport.maxAttempts + 1);

export async function runTeacherBatches(input: TeacherBatchInput): Promise<TeacherBatchResult> {
  const { llm } = input;
  const batch = llm.teacher?.batch;
  const acts = proxyActivities<TeacherBatchActivities>({
    taskQueue: input.llmQueue,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 20, nonRetryableErrorTypes: ['InvalidActivityInput', 'LlmNotConfigured', 'LlmRequestRejected'] },
  });
  const pollMs = Math.max(1, Math.round((batch?.pollIntervalSeconds ?? 60) * 1000));
  const scope = {
    runId: input.runId,
    domain: input.domain,
    workKey: input.workKey,
    datasetKey: input.datasetKey,
    inferencesPerSample: input.inferencesPerSample,
    // The rounds of this execution of the stage (a rerun starts its own).
    session: workflowInfo().firstExecutionRunId,
  };
  const out: TeacherBatchResult = { rounds: 0, requests: 0, skipped: 0 };
  try {
    for (let round = input.fromRound ?? 1; ; round++) {
      if (round > maxRounds(llm) + 1) throw ApplicationFailure.nonRetryable(`construct (${input.domain}): the teacher batches did not settle after ${maxRounds(llm)} rounds`, 'TeacherBatchStuck');
      const prepared = await acts.prepareTeacherRound({ ...scope, round, cap: llm.cap });
      out.skipped = prepared.skipped;
      if (prepared.requests === 0) break;
      out.rounds = round;
      out.requests += prepared.requests;
      const batchIds = await acts.submitTeacherRound({ ...scope, round });
      for (;;) {
        // Polling for hours grows the history: long before its limit the stage continues-as-new.
        if (workflowInfo().continueAsNewSuggested) return { ...out, continueAt: round };
        await sleep(pollMs);
        if ((await acts.pollTeacherBatches({ batchIds })).finished) break;
      }
      await acts.collectTeacherRound({ ...scope, round, batchIds, formatRetries: llm.formatRetries, transport: llm.transport, prices: llm.prices });
    }
  } catch (e) {
    if (isCancellation(e)) await CancellationScope.nonCancellable(() => acts.cancelTeacherBatches({ runId: input.runId }));
    throw e;
  }
  return out;
}

export interface KarBatchInput {
  runId: string;
  key: string;
  ingestKey: string;
  domain: Domain;
  entities: { historyLength: number; activeUserMinInteractions: number; knowledgeCutoff?: number };
  total: number;
  /** The teacher's model when it is not the endpoint's. */
  model?: string | undefined;
  llm: R4ecConfig['llm'];
  llmQueue: string;
  heartbeatTimeoutSeconds: number;
  /** The stage workflow's first run: its rounds, and where the fan-out finds kar's batch failures. */
  session: string;
}

/**
 * refine's kar requests on the Batch API, before the fan-out: the same rounds as construct's, each
 * round one kar request per entity still waiting (a re-ask or resubmission after the first), until
 * every entity's kar is answered into the cache or has failed for good. Returns the requests sent.
 */
export async function runKarBatches(input: KarBatchInput): Promise<{ rounds: number; requests: number; skipped: number }> {
  const { llm } = input;
  const acts = proxyActivities<TeacherBatchActivities>({
    taskQueue: input.llmQueue,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: `${input.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 20, nonRetryableErrorTypes: ['InvalidActivityInput', 'LlmNotConfigured', 'LlmRequestRejected'] },
  });
  const pollMs = Math.max(1, Math.round((llm.teacher?.batch?.pollIntervalSeconds ?? 60) * 1000));
  const scope = { runId: input.runId, key: input.key, ingestKey: input.ingestKey, domain: input.domain, entities: input.entities, total: input.total, session: input.session, ...(input.model ? { model: input.model } : {}) };
  // One call per entity: each settles within formatRetries + transport attempts + 1 rounds.
  const most = llm.formatRetries + llm.transport.maxAttempts + 1;
  const out = { rounds: 0, requests: 0, skipped: 0 };
  try {
    for (let round = 1; ; round++) {
      if (round > most + 1) throw ApplicationFailure.nonRetryable(`refine (${input.domain}): the kar batches did not settle after ${most} rounds`, 'TeacherBatchStuck');
      const prepared = await acts.prepareKarRound({ ...scope, round, cap: llm.cap });
      out.skipped += prepared.skipped;
      if (prepared.requests === 0) break;
      out.rounds = round;
      out.requests += prepared.requests;
      const batchIds = await acts.submitKarRound({ ...scope, round });
      for (;;) {
        await sleep(pollMs);
        if ((await acts.pollTeacherBatches({ batchIds })).finished) break;
      }
      await acts.collectKarRound({ ...scope, round, batchIds, formatRetries: llm.formatRetries, transport: llm.transport, prices: llm.prices });
    }
  } catch (e) {
    if (isCancellation(e)) await CancellationScope.nonCancellable(() => acts.cancelTeacherBatches({ runId: input.runId }));
    throw e;
  }
  return out;
}
