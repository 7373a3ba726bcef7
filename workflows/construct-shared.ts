// What constructDatasetWorkflow and rerunFailedConstructWorkflow share: one inference as its own
// child workflow `${runId}/construct/${domain}/${entityId}/${k}`, with the R4ecRunId / R4ecStage /
// R4ecDomain / R4ecEntityId attributes the Web UI's queries use.
import { executeChild } from '@temporalio/workflow';
import type { ConstructUnit } from '../activities/construct';
import type { Domain } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { workflowIds } from '../core/rules';
import { constructInferenceWorkflow } from './construct-inference';
import { r4ecAttributes } from './search-attributes';

export interface InferenceChildContext {
  runId: string;
  domain: Domain;
  workKey: string;
  datasetKey: string;
  llm: R4ecConfig['llm'];
  cpuQueue: string;
  llmQueue: string;
  heartbeatTimeoutSeconds: number;
}

/** Runs one inference's workflow to completion; resolves with its outcome. */
export function inferenceChild(c: InferenceChildContext): (u: Pick<ConstructUnit, 'planIndex' | 'k' | 'entry'>) => Promise<string> {
  return async (u) => {
    const res = await executeChild(constructInferenceWorkflow, {
      workflowId: workflowIds.constructInference(c.runId, c.domain, u.entry.entityId, u.k),
      taskQueue: c.cpuQueue,
      typedSearchAttributes: r4ecAttributes({ runId: c.runId, stage: 'construct', domain: c.domain, entityId: u.entry.entityId }),
      args: [
        {
          runId: c.runId,
          domain: c.domain,
          workKey: c.workKey,
          datasetKey: c.datasetKey,
          planIndex: u.planIndex,
          k: u.k,
          entry: u.entry,
          llm: c.llm,
          llmQueue: c.llmQueue,
          heartbeatTimeoutSeconds: c.heartbeatTimeoutSeconds,
        },
      ],
    });
    return res.outcome;
  };
}
