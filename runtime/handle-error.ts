// The one error handler of every entry point: message, code and suggestion; never a stack for a
// known error (R4EC_DEBUG=1 shows it).
import { R4ecError } from '../core/errors';

export function handleError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof R4ecError) {
    write(`r4ec: error [${err.code}]: ${err.message}\n`);
    if (err.suggestion) write(`  suggestion: ${err.suggestion}\n`);
    if (process.env.R4EC_DEBUG && err.stack) write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error & { code?: string; details?: string };
  write(`r4ec: error [unexpected]: ${e?.message ?? String(err)}\n`);
  if (e?.stack) write(`${e.stack}\n`);
  return 1;
}
