// encode stage: every knowledge set → float32 vectors per domain, on the gpu queue.
// plan (skips when the output exists) → encodeShards per (set, domain), one at a time (one device)
// → assembleVectors. A killed worker's encodeShards resumes from its heartbeated shard offset.
import { ApplicationFailure, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { createEncodeActivities } from '../activities/encode';
import { KNOWLEDGE_SETS, type KnowledgeSet } from '../config/names';
import type { EncodeSummary } from '../core/encode/stage';
import type { StageArtifact } from '../core/rules';
import { r4ecAttributes } from './search-attributes';
import { planOrMissing } from './stage-plan';
import type { StageInput, StageResult } from './stage-types';

type EncodeActivities = ReturnType<typeof createEncodeActivities>;

/** The knowledge sets the configured training variants need (`base` needs none). */
export function setsFor(variants: readonly string[]): KnowledgeSet[] {
  return KNOWLEDGE_SETS.filter((s) => variants.includes(s));
}

/** Placeholder input hash when no knowledge set is needed (variants: [base]) and so refine is not read. */
const NO_REFINE: StageArtifact = { key: 'refine/none', contentHash: 'none' };

export async function encodeKnowledgeWorkflow(input: StageInput): Promise<StageResult<EncodeSummary>> {
  upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'encode' }));
  const { config, artifacts } = input;
  const sets = setsFor(config.train.variants);
  const { ingest } = artifacts;
  // refine's output holds both domains' knowledge files (the refine stage merges its domains).
  const refine = sets.length > 0 ? artifacts.refine : NO_REFINE;
  if (!ingest || !refine) {
    throw ApplicationFailure.nonRetryable(`encode needs the ingest and refine outputs; got ${Object.keys(artifacts).join(', ') || 'none'}`, 'MissingStageInput');
  }
  const encode = config.encode;
  // Every encode activity beats from a side timer (and per shard and batch): one whose worker died is
  // retried elsewhere after the heartbeat timeout, not after its start-to-close timeout.
  const quick = proxyActivities<EncodeActivities>({
    taskQueue: config.queues.gpu.name,
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: `${encode.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  });
  const long = proxyActivities<EncodeActivities>({
    taskQueue: config.queues.gpu.name,
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: `${encode.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 },
  });

  const cutoff = config.train.knowledgeCutoff > 0 ? { knowledgeCutoff: config.train.knowledgeCutoff } : {};
  const plan = await planOrMissing(quick.planEncoding({ runId: input.runId, encode, sets, refine, ingest, lookupOnly: input.lookupOnly ?? false, ...cutoff }));
  if (plan.status === 'done') return { artifact: plan.artifact, skipped: true, summary: plan.summary };
  const common = { key: plan.key, refineKey: refine.key, ingestKey: ingest.key, modelDir: plan.work.modelDir, encode };
  for (const job of plan.work.jobs) {
    if (job.texts > 0) await long.encodeShards({ ...common, set: job.set, domain: job.domain });
  }
  const done = await quick.assembleVectors({ ...common, sets, ...cutoff });
  return { artifact: { key: done.key, contentHash: done.contentHash }, skipped: false, summary: done.summary };
}
