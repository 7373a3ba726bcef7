// A stage workflow's first step: its plan activity (core's planStage) says whether the output exists,
// or, outside the run's selection with no output, raises StageOutputMissing. The stage workflow then
// fails with that type itself, so the pipeline, the CLI and the Web UI see why without opening the
// activity's failure.
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

export async function planOrMissing<P>(plan: Promise<P>): Promise<P> {
  try {
    return await plan;
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'StageOutputMissing') {
      throw ApplicationFailure.create({ message: err.cause.message, type: 'StageOutputMissing', nonRetryable: true, cause: err.cause });
    }
    throw err;
  }
}
