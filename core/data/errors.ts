// A bad input file is the user's problem to fix, so the error says exactly where and what: the file,
// the 1-based line, the field, what was expected there and what was found, other lines involved
// (a repeated line names the first one) and how to fix it. Activities map it to a non-retryable
// failure (retrying cannot fix a file) whose details are `toJSON()`.
import { R4ecError } from '../errors';

/** Another place in the input that the problem involves. */
export interface DataLocation {
  file: string;
  /** 1-based; 0 = the file as a whole. */
  line: number;
  /** What that place is to the problem ("first seen"). */
  role: string;
}

export interface DataErrorOptions {
  related?: DataLocation[];
  /** What the user can do about it. */
  suggestion?: string;
}

export class DataError extends R4ecError {
  readonly related: DataLocation[] | undefined;

  constructor(
    readonly file: string,
    /** 1-based line number; 0 when the problem is the file as a whole (missing, wrong format). */
    readonly line: number,
    readonly field: string,
    readonly expected: string,
    /** What was found instead (shortened), when there is something to show. */
    readonly found?: string,
    opts: DataErrorOptions = {},
  ) {
    const where = line > 0 ? `${file}:${line}` : file;
    const got = found === undefined ? '' : ` but found ${JSON.stringify(shorten(found))}`;
    const also = (opts.related ?? []).map((r) => `; ${r.role}: ${r.line > 0 ? `${r.file}:${r.line}` : r.file}`).join('');
    super(`${where}: field "${field}": expected ${expected}${got}${also}`, 'DataError', { suggestion: opts.suggestion });
    this.name = 'DataError';
    this.related = opts.related;
  }

  override details(): Record<string, unknown> {
    return this.toJSON();
  }

  /** Every fact as plain JSON (an activity failure's details; the CLI's error block). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      file: this.file,
      line: this.line,
      field: this.field,
      expected: this.expected,
      found: this.found,
      ...(this.related ? { related: this.related } : {}),
      ...(this.suggestion ? { suggestion: this.suggestion } : {}),
    };
  }
}

function shorten(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
