// Which stage workflows exist, and how the pipeline runs them. A stage lands by adding its entry.
import type { Stage } from '../config/names';

export interface StageWorkflowSpec {
  /** Workflow type of the stage's child workflow. */
  workflowType: string;
  /** construct and refine run once per domain (user, item). */
  perDomain: boolean;
  /** Earlier stages whose artifacts it reads. */
  needs: Stage[];
}

export const STAGE_WORKFLOWS: Partial<Record<Stage, StageWorkflowSpec>> = {
  ingest: { workflowType: 'ingestDatasetWorkflow', perDomain: false, needs: [] },
  construct: { workflowType: 'constructDatasetWorkflow', perDomain: true, needs: ['ingest'] },
  finetune: { workflowType: 'fineTuneWorkflow', perDomain: false, needs: ['construct'] },
  refine: { workflowType: 'refineKnowledgeWorkflow', perDomain: true, needs: ['ingest'] },
  encode: { workflowType: 'encodeKnowledgeWorkflow', perDomain: false, needs: ['ingest', 'refine'] },
  train: { workflowType: 'trainBackbonesWorkflow', perDomain: false, needs: ['ingest', 'encode'] },
  report: { workflowType: 'reportWorkflow', perDomain: false, needs: [] },
};
