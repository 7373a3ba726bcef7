// encode stage: every knowledge set → float32 vectors per domain, on the gpu queue.
// plan (skips when the output exists) → encodeShards per (set, domain), one at a time (one device)
// → assembleVectors. A killed worker's encodeShards resumes from its heartbeated shard offset.
import { ApplicationFailure, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { createEncodeActivities } from '../activities/encode';
import type { RefineActivities } from '../activities/refine';
import { KNOWLEDGE_SETS, type KnowledgeSet } from '../config/names';
import type { EncodeSummary } from '../core/encode/stage';
import { r4ecAttributes } from './search-attributes';
import type { StageArtifact, StageInput, StageResult } from './stage-types';

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
  const ingest = artifacts.ingest;
  const parts = artifacts['refine:user'] && artifacts['refine:item'] ? { user: artifacts['refine:user'], item: artifacts['refine:item'] } : undefined;
  if (!ingest || (sets.length > 0 && !artifacts.refine && !parts)) {
    throw ApplicationFailure.nonRetryable(
      `encode needs the ingest output and refine's (refine, or refine:user and refine:item); got ${Object.keys(artifacts).join(', ') || 'none'}`,
      'MissingStageInput',
    );
  }
  const encode = config.encode;
  const quick = proxyActivities<EncodeActivities>({
    taskQueue: config.queues.gpu.name,
    startToCloseTimeout: '30 minutes',
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  });
  const long = proxyActivities<EncodeActivities>({
    taskQueue: config.queues.gpu.name,
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: `${encode.heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 10 },
  });

  // refine runs per domain; encode reads one output with both domains' files.
  let refine = artifacts.refine ?? NO_REFINE;
  if (!artifacts.refine && parts && sets.length > 0) {
    const { combineRefineOutputs } = proxyActivities<RefineActivities>({
      taskQueue: config.queues.cpu.name,
      startToCloseTimeout: '10 minutes',
      retry: { initialInterval: '1 second', maximumAttempts: 5 },
    });
    const combined = await combineRefineOutputs(parts);
    refine = { key: combined.key, contentHash: combined.contentHash };
  }

  const plan = await quick.planEncoding({ runId: input.runId, encode, sets, refine, ingest });
  if (plan.skipped) {
    return { artifact: { key: plan.key, contentHash: plan.contentHash! }, skipped: true, summary: plan.summary! };
  }
  if (input.lookupOnly) {
    throw ApplicationFailure.nonRetryable(`encode output ${plan.key} does not exist for these inputs (run the encode stage)`, 'StageOutputMissing');
  }
  const common = { key: plan.key, refineKey: refine.key, ingestKey: ingest.key, modelDir: plan.modelDir, encode };
  for (const job of plan.jobs) {
    if (job.texts > 0) await long.encodeShards({ ...common, set: job.set, domain: job.domain });
  }
  const done = await quick.assembleVectors({ ...common, sets });
  return { artifact: { key: done.key, contentHash: done.contentHash }, skipped: false, summary: done.summary };
}
