// The batch activities' proxy (llm queue): a batch holds many LLM calls, so a dead worker is noticed
// by its heartbeat, not by a start-to-close timeout; a rejected request (bad key, unknown model) is
// not retried, and stops the stage.
import { proxyActivities } from '@temporalio/workflow';
import type { EntityBatchActivities } from '../activities/entity-batch';

export const BATCH_NON_RETRYABLE = ['InvalidActivityInput', 'InvalidPrompt', 'LlmNotConfigured', 'LlmRequestRejected', 'StageOutputMissing'];

export function batchActivities(llmQueue: string, heartbeatTimeoutSeconds: number) {
  return proxyActivities<EntityBatchActivities>({
    taskQueue: llmQueue,
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: `${heartbeatTimeoutSeconds} seconds`,
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10, nonRetryableErrorTypes: BATCH_NON_RETRYABLE },
  });
}
