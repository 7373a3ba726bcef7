// The contract between r4ecPipelineWorkflow and each stage workflow. Types only.
import type { R4ecConfig } from '../config/schema';
import type { Stage } from '../config/names';

/** A complete stage output in the store: its key and content hash (the next stage's input). */
export interface StageArtifact {
  key: string;
  contentHash: string;
}

export interface StageInput {
  /** The pipeline's workflow id. */
  runId: string;
  /** Already validated, defaults applied (by the pipeline's first activity). */
  config: R4ecConfig;
  /** Outputs of earlier stages that this stage reads. */
  artifacts: Partial<Record<Stage, StageArtifact>>;
}

export interface StageResult<S = Record<string, unknown>> {
  artifact: StageArtifact;
  /** True when the output already existed and nothing was recomputed. */
  skipped: boolean;
  /** The stage's block of the run summary (DESIGN.md "CLI contract"). */
  summary: S;
}
