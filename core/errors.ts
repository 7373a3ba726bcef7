/** Every error a user can see carries a code and, where there is one, a suggestion. */
export class R4ecError extends Error {
  readonly code: string;
  readonly suggestion: string | undefined;
  readonly exitCode: number;
  constructor(message: string, code: string, opts: { suggestion?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'R4ecError';
    this.code = code;
    this.suggestion = opts.suggestion;
    this.exitCode = opts.exitCode ?? 1;
  }
}
