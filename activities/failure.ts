// The one way an error leaves an activity: an ApplicationFailure whose type is the error's stable
// code (the types workflows list as non-retryable), non-retryable when another attempt cannot help
// (bad data, bad config), retryable for transport, with the error's facts and suggestion in its
// details so the Web UI shows why without opening files.
import { ApplicationFailure } from '@temporalio/activity';
import { R4ecError } from '../core/errors';

export interface FailureOptions {
  /** Goes before the message: the activity or job that failed (`callLlm: …`). */
  prefix?: string;
  /** The type, where the contract predates the error's code (encode's `BadKnowledgeData`). */
  type?: string;
  /** For an error that is not an R4ecError: the caller knows another attempt cannot help. */
  nonRetryable?: boolean;
}

export function toFailure(err: unknown, opts: FailureOptions = {}): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const prefix = opts.prefix ? `${opts.prefix}: ` : '';
  if (err instanceof R4ecError) {
    const facts = err.details();
    const details = err.suggestion !== undefined ? { ...facts, suggestion: err.suggestion } : facts;
    return ApplicationFailure.create({
      // The CLI prints a failed run's message: the suggestion belongs where the user reads.
      message: `${prefix}${err.message}${err.suggestion !== undefined ? `\n  suggestion: ${err.suggestion}` : ''}`,
      type: opts.type ?? err.code,
      nonRetryable: opts.nonRetryable ?? !err.retryable,
      ...(details ? { details: [details] } : {}),
      ...(err.retryable && err.retryAfterMs !== undefined ? { nextRetryDelay: Math.max(1, Math.round(err.retryAfterMs)) } : {}),
    });
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({ message: `${prefix}${e.message}`, type: opts.type ?? e.name, nonRetryable: opts.nonRetryable ?? false });
}
