import { proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { createStoreActivities } from '../activities/store';
import { r4ecAttributes } from './search-attributes';

const { writeSmokeArtifact } = proxyActivities<ReturnType<typeof createStoreActivities>>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '3 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 10 },
});

export interface SmokeWorkflowInput {
  key: string;
  text: string;
  workMs?: number;
}

/** Proves the plumbing: workflow → activity → store, on a real server. */
export async function smokeWorkflow(input: SmokeWorkflowInput): Promise<{ key: string; contentHash: string; reused: boolean }> {
  upsertSearchAttributes(r4ecAttributes({ runId: workflowInfo().workflowId, stage: 'smoke' }));
  return writeSmokeArtifact({ key: input.key, text: input.text, workMs: input.workMs ?? 0 });
}
