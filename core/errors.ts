import { errorBlock, type ErrorBlock } from './rules/error-block';

export type { ErrorBlock };

/**
 * The base of every error r4ec raises on purpose. `code` is stable (a CLI error line shows it, and an
 * activity's failure carries it as its type, which workflows list as non-retryable); `retryable` says
 * whether another attempt can help (transport: yes; bad data or config: no); `suggestion` tells the
 * user what to do.
 */
export class R4ecError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly suggestion: string | undefined;
  readonly exitCode: number;
  /** The server asked to wait this long before another attempt (Retry-After). */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    code: string,
    opts: { retryable?: boolean; suggestion?: string | undefined; exitCode?: number; cause?: unknown; retryAfterMs?: number | undefined } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'R4ecError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.suggestion = opts.suggestion;
    this.exitCode = opts.exitCode ?? 1;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** Facts for the failure's details (the Web UI shows them); never a secret. */
  details(): Record<string, unknown> | undefined {
    return undefined;
  }

  /** The error as the CLI's `--json` `failure` block: code, message, where (file, line, field), suggestion. */
  block(): ErrorBlock {
    return errorBlock(this.code, this.message, this.details(), this.suggestion !== undefined ? { suggestion: this.suggestion } : {});
  }
}
