// A bad input file is the user's problem to fix, so the error says exactly where and what: the file,
// the 1-based line, the field and what was expected there. Activities map it to a non-retryable
// failure (retrying cannot fix a file).
import { R4ecError } from '../errors';

export class DataError extends R4ecError {
  constructor(
    readonly file: string,
    /** 1-based line number; 0 when the problem is the file as a whole (missing, wrong format). */
    readonly line: number,
    readonly field: string,
    readonly expected: string,
    /** What was found instead (shortened), when there is something to show. */
    readonly found?: string,
  ) {
    const where = line > 0 ? `${file}:${line}` : file;
    const got = found === undefined ? '' : ` but found ${JSON.stringify(shorten(found))}`;
    super(`${where}: field "${field}": expected ${expected}${got}`, 'DataError');
    this.name = 'DataError';
  }

  override details(): Record<string, unknown> {
    return this.toJSON();
  }

  toJSON(): Record<string, unknown> {
    return { file: this.file, line: this.line, field: this.field, expected: this.expected, found: this.found };
  }
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
