// Every workflow id r4ec starts, derived from the run id (the pipeline's own workflow id), so a
// rerun finds the same children, the CLI's progress can describe them, and nothing needs a lookup.
import type { Domain, Stage } from '../../config/names';

export const workflowIds = {
  /** A stage workflow; construct and refine run one per domain. */
  stage: (runId: string, stage: Stage, domain?: Domain): string => (domain ? `${runId}/${stage}/${domain}` : `${runId}/${stage}`),
  /** One construction inference: the k-th sampled target of an entity. */
  constructInference: (runId: string, domain: Domain, entityId: string, k: number): string => `${runId}/construct/${domain}/${entityId}/${k}`,
  /** One entity's refinement (a rerun of a failed entity reuses it). */
  refineEntity: (runId: string, domain: Domain, entityId: string): string => `${runId}/refine/${domain}/${entityId}`,
  /** One LoRA job of the finetune stage. */
  loraJob: (runId: string, job: string): string => `${runId}/finetune/${job}`,
  /** `r4ec rerun --failed`: a new id per request (`at`: when it was asked, ms). */
  rerunFailed: (runId: string, at: number): string => `${runId}/rerun-failed/${at}`,
  /** `r4ec rerun --failed`, its construct part (before the refine part above). */
  rerunFailedConstruct: (runId: string, at: number): string => `${runId}/rerun-failed/${at}/construct`,
};

/**
 * Who wrote an entity's record when no entity workflow did: a batch activity, named by its workflow
 * execution and activity id (stable across the batch's retries). A failed entity whose record a
 * batch wrote still needs its own entity workflow; one an entity workflow wrote does not.
 */
export const BATCH_EXECUTION_PREFIX = 'batch/';

export function batchExecution(workflowRunId: string, activityId: string): string {
  return `${BATCH_EXECUTION_PREFIX}${workflowRunId}/${activityId}`;
}

export function isBatchExecution(execution: string | undefined): boolean {
  return execution !== undefined && execution.startsWith(BATCH_EXECUTION_PREFIX);
}
