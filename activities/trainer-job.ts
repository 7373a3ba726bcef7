// What the gpu activities that follow a long job (a trainer process, a provider's fine-tuning job)
// share: a cancelled job is reported as the activity's cancellation, never as a failure.
import { CancelledFailure, type Context } from '@temporalio/activity';
import { OpenAiJobCancelled } from '../core/finetune';
import { PythonJobCancelled } from '../core/python-job';

/** The CancelledFailure to throw when `err` is a job stopped on this activity's cancel. */
export function cancellationOf(ctx: Context, err: unknown): CancelledFailure | undefined {
  if (!(err instanceof PythonJobCancelled || err instanceof OpenAiJobCancelled)) return undefined;
  ctx.log.warn(err.message);
  const reason: unknown = ctx.cancellationSignal.reason;
  return reason instanceof CancelledFailure ? reason : new CancelledFailure('CANCELLED');
}
