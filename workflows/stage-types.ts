// The contract between r4ecPipelineWorkflow and each stage workflow. Types only.
import type { R4ecConfig } from '../config/schema';
import type { Domain } from '../config/names';
import type { ArtifactName, StageArtifact } from '../core/rules';

export type { ArtifactName, StageArtifact };

export interface StageInput {
  /** The pipeline's workflow id. */
  runId: string;
  /** Already validated, defaults applied (by the pipeline's first activity). */
  config: R4ecConfig;
  /** Outputs of earlier stages that this stage reads. */
  artifacts: Partial<Record<ArtifactName, StageArtifact>>;
  /**
   * Set when the stage is outside the run's --only/--from/--until selection: return the existing
   * output for these inputs (skipped: true) or fail with StageOutputMissing; never compute.
   */
  lookupOnly?: boolean;
}

export interface StageResult<S = Record<string, unknown>> {
  artifact: StageArtifact;
  /** True when the output already existed and nothing was recomputed. */
  skipped: boolean;
  /** The stage's summary; the run summary takes its block from it (README "Commands"). */
  summary: S;
}

/** Input of the per-domain stages (construct, refine). */
export interface DomainStageInput extends StageInput {
  domain: Domain;
}
