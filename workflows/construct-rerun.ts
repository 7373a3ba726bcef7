// rerunFailedConstructWorkflow: `r4ec rerun --run X --failed` for construct. For each domain of run
// X it finds the inferences whose outcome in the committed output is failed_format /
// failed_transport, rebuilds the work area from that output, starts a new inference workflow for
// exactly those (same ids, `${runId}/construct/${domain}/${entityId}/${k}`; the LLM cache answers
// every call that had completed, and the simulator's per-occurrence faults let the failed ones
// succeed), then assembles the output again under the same key. Its content hash changes, so the
// stages after construct compute again when the pipeline is started again with the same run id.
import { continueAsNew, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ConstructUnit, createConstructActivities, PreparedConstructRerun } from '../activities/construct';
import type { ConstructOutcome, Domain } from '../config/names';
import { failedEntitiesQuery } from '../core/rules';
import { inferenceChild } from './construct-shared';
import { emptyCarry, runWindowedFanout, trackProgress, type FanoutCarry } from './fanout';
import { r4ecAttributes } from './search-attributes';

type Prepared = Extract<PreparedConstructRerun, { found: true }>;

export interface RerunFailedConstructInput {
  runId: string;
  /** Default: user, then item. */
  domains?: Domain[];
  resume?: { position: number; prepared: Prepared; carry: FanoutCarry; results: RerunFailedConstructOutput['domains'] };
}

export interface RerunConstructDomainResult {
  /** Inferences started again. */
  rerun: number;
  /** Their outcomes this time. */
  outcomes: Record<string, number>;
  /** The output's outcomes after the rewrite (all inferences). */
  total: Record<ConstructOutcome, number>;
  artifact: { key: string; contentHash: string };
  previousContentHash: string;
}

export interface RerunFailedConstructOutput {
  runId: string;
  domains: Partial<Record<Domain, RerunConstructDomainResult | { found: false }>>;
  /** The same question for the Web UI / `temporal workflow list --query` (both domains). */
  query: string;
}

export async function rerunFailedConstructWorkflow(input: RerunFailedConstructInput): Promise<RerunFailedConstructOutput> {
  const { runId } = input;
  const domains = input.domains ?? ['user', 'item'];
  const cpuQueue = workflowInfo().taskQueue;
  upsertSearchAttributes(r4ecAttributes({ runId, stage: 'construct' }));
  const acts = proxyActivities<ReturnType<typeof createConstructActivities>>({
    taskQueue: cpuQueue,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '5 minutes',
    retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes: ['InvalidActivityInput', 'ConstructIncomplete'] },
  });
  const results: RerunFailedConstructOutput['domains'] = { ...input.resume?.results };
  const state = { carry: input.resume?.carry ?? emptyCarry(), total: input.resume?.prepared.failed.length ?? 0 };
  trackProgress(state);
  for (let position = input.resume?.position ?? 0; position < domains.length; position++) {
    const domain = domains[position]!;
    const resumed = input.resume?.position === position ? input.resume : undefined;
    const prepared = resumed?.prepared ?? (await acts.prepareConstructRerun({ runId, domain }));
    if (!prepared.found) {
      results[domain] = { found: false };
      continue;
    }
    const previousContentHash = prepared.artifact.contentHash;
    if (prepared.failed.length === 0) {
      results[domain] = { rerun: 0, outcomes: {}, total: prepared.summary.outcomes, artifact: prepared.artifact, previousContentHash };
      continue;
    }
    state.total = prepared.failed.length;
    state.carry = resumed?.carry ?? emptyCarry();
    const c = prepared.construct;
    const r = await runWindowedFanout<ConstructUnit>({
      total: prepared.failed.length,
      carry: state.carry,
      window: c.window,
      batchPerRun: c.batchPerRun,
      loadPage: (offset, limit) => Promise.resolve(prepared.failed.slice(offset, offset + limit)),
      // Children run where this workflow runs (the deployment's cpu queue today).
      runChild: inferenceChild({
        runId,
        domain,
        workKey: prepared.workKey,
        datasetKey: prepared.ingest.key,
        llm: prepared.llm,
        cpuQueue,
        llmQueue: prepared.queues.llm.name,
        heartbeatTimeoutSeconds: c.heartbeatTimeoutSeconds,
      }),
    });
    state.carry = r.carry;
    trackProgress(state);
    if (!r.finished) return continueAsNew<typeof rerunFailedConstructWorkflow>({ ...input, resume: { position, prepared, carry: r.carry, results } });
    const done = await acts.assembleConstruction({
      key: prepared.key,
      workKey: prepared.workKey,
      domain,
      inferencesPerSample: c.inferencesPerSample,
      teacher: { model: prepared.llm.teacher?.model ?? prepared.llm.simulator.model, simulator: prepared.llm.teacher === undefined },
      // The rerun repairs a committed output: no failure limit, the output is rewritten.
      replace: true,
    });
    results[domain] = {
      rerun: prepared.failed.length,
      outcomes: { ...state.carry.outcomes },
      total: done.summary.outcomes,
      artifact: { key: done.key, contentHash: done.contentHash },
      previousContentHash,
    };
  }
  return { runId, domains: results, query: failedEntitiesQuery(runId, undefined, 'construct') };
}
