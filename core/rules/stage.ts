// The contract between the pipeline and each stage: types only, so workflows and core share them.
import type { Domain, Stage } from '../../config/names';

/** A complete stage output in the store: its key and content hash (the next stage's input). */
export interface StageArtifact {
  key: string;
  contentHash: string;
}

/** Stage outputs by name; construct and refine have one per domain ("construct:user", ...). */
export type ArtifactName = Stage | `${'construct' | 'refine'}:${Domain}`;

/**
 * What a stage's plan activity found: its output already exists for these inputs (`done`, with the
 * summary stored in its manifest) or there is work to do under `key`. One shape for every stage, so
 * skipping and lookup-only runs are decided in one place (`planStage` in core/stage/plan.ts).
 */
export type StagePlan<Work, Summary> = StageDone<Summary> | StageTodo<Work>;

export interface StageDone<Summary> {
  status: 'done';
  key: string;
  artifact: StageArtifact;
  summary: Summary;
}

/** The plan of a stage with work to do (what a fan-out stage carries across continue-as-new). */
export interface StageTodo<Work> {
  status: 'todo';
  key: string;
  work: Work;
}
