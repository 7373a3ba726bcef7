// The workflow bundle's entry: every workflow type the cpu worker serves.
export { smokeWorkflow } from './smoke';
export { ingestDatasetWorkflow } from './ingest';
export { constructDatasetWorkflow } from './construct';
export { constructInferenceWorkflow } from './construct-inference';
export { rerunFailedConstructWorkflow } from './construct-rerun';
export { encodeKnowledgeWorkflow } from './encode';
export { r4ecPipelineWorkflow } from './pipeline';
export { fineTuneWorkflow, loraJobWorkflow } from './finetune';
export { reportWorkflow } from './report';
export { trainBackbonesWorkflow } from './train';
export { refineKnowledgeWorkflow } from './refine';
export { refineEntityWorkflow } from './refine-entity';
export { rerunFailedRefineWorkflow } from './refine-rerun';
export { llmProbeWorkflow } from './llm-probe';
