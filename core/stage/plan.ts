// planStage: the one place that decides whether a stage computes, is skipped because its output
// exists, or (outside the run's stage selection) must only look its output up.
import { R4ecError } from '../errors';
import type { StagePlan } from '../rules/stage';
import { StageOutput, type ArtifactStore } from '../store';

export class StageOutputMissing extends R4ecError {
  constructor(
    readonly stage: string,
    readonly key: string,
  ) {
    super(`${stage}: no output ${key} for these inputs, and ${stage.split(' ')[0]} is not selected in this run`, 'StageOutputMissing', {
      suggestion: `run it (drop --only/--from/--until, or include ${stage.split(' ')[0]})`,
    });
    this.name = 'StageOutputMissing';
  }

  override details(): Record<string, unknown> {
    return { stage: this.stage, key: this.key };
  }
}

export interface PlanStageOptions<Work, Summary> {
  store: ArtifactStore;
  key: string;
  /** For messages: "construct (user)", "finetune", ... */
  stage: string;
  /** Outside the run's selection: return the existing output or fail with StageOutputMissing. */
  lookupOnly: boolean;
  /** Reads the stage summary back from a complete output's manifest meta. */
  summaryOf: (meta: Record<string, unknown>) => Summary;
  /** Prepares the work (writes plans, resolves inputs) when the output does not exist. */
  work: () => Promise<Work>;
  /**
   * A selected stage may compute an existing output again when this says so (refine: entities it
   * skipped at the call cap, once the cap has room). A lookup-only stage takes the output as it is.
   */
  redo?: (summary: Summary) => Promise<boolean>;
}

export async function planStage<Work, Summary>(opts: PlanStageOptions<Work, Summary>): Promise<StagePlan<Work, Summary>> {
  const out = new StageOutput(opts.store, opts.key);
  if (await out.isComplete()) {
    const summary = opts.summaryOf((await out.manifest()).meta);
    if (opts.lookupOnly || !opts.redo || !(await opts.redo(summary))) {
      return { status: 'done', key: opts.key, artifact: { key: opts.key, contentHash: await out.contentHash() }, summary };
    }
  } else if (opts.lookupOnly) throw new StageOutputMissing(opts.stage, opts.key);
  return { status: 'todo', key: opts.key, work: await opts.work() };
}
