// Stage workflow for ingest: one activity on the cpu queue; the dataset stays in the store.
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { createIngestActivities } from '../activities/ingest';
import type { IngestSummary } from '../core/data/meta';
import { heartbeatTimeout } from '../core/rules';
import type { StageInput, StageResult } from './stage-types';
import { r4ecAttributes } from './search-attributes';

export type { IngestSummary };

export async function ingestDatasetWorkflow(input: StageInput): Promise<StageResult<IngestSummary>> {
  upsertSearchAttributes(r4ecAttributes({ runId: input.runId, stage: 'ingest' }));
  const { ingestDataset } = proxyActivities<ReturnType<typeof createIngestActivities>>({
    taskQueue: input.config.queues.cpu.name,
    // Amazon-Books streams several GB; progress heartbeats every 100k lines and from a side timer.
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: heartbeatTimeout(input.config.recovery?.heartbeatTimeoutSeconds),
    retry: { initialInterval: '2 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ['DataError', 'InvalidActivityInput'] },
  });
  const r = await ingestDataset({ dataset: input.config.dataset });
  return { artifact: { key: r.key, contentHash: r.contentHash }, skipped: r.skipped, summary: r.summary };
}
