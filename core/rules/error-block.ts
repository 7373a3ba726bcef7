// The one shape in which an error reaches the user as data: the `failure` block of `r4ec run --json`
// (the run summary) and of any command's `--json` error output. Built from an R4ecError in-process,
// and from an activity's failure (its type, message and details) inside the pipeline workflow, so a
// data error found by ingest arrives with its file, line and field wherever it is read.

/** Another place in the input that the problem involves (a DataError's `related`). */
export interface ErrorLocation {
  file: string;
  line: number;
  role: string;
}

export interface ErrorBlock {
  /** Stable code: the R4ecError's code, which is also the activity failure's type (`DataError`, `config_invalid`, …). */
  code: string;
  /** The message without the suggestion. */
  message: string;
  /** The stage that failed, when a pipeline stage did. */
  stage?: string;
  file?: string;
  /** 1-based; 0 = the file as a whole. */
  line?: number;
  field?: string;
  expected?: string;
  found?: string;
  related?: ErrorLocation[];
  /** A config error: every problem as `path: message`. */
  problems?: string[];
  suggestion?: string;
}

const SUGGESTION_TAIL = '\n  suggestion: ';

/** `toFailure` appends the suggestion to an activity failure's message: take it back off. */
export function splitSuggestion(message: string): { message: string; suggestion?: string } {
  const i = message.indexOf(SUGGESTION_TAIL);
  return i < 0 ? { message } : { message: message.slice(0, i), suggestion: message.slice(i + SUGGESTION_TAIL.length) };
}

/** An error block from a code, a message and the error's facts (`details()` / a failure's details). */
export function errorBlock(code: string, rawMessage: string, facts?: unknown, extra: { stage?: string; suggestion?: string } = {}): ErrorBlock {
  const split = splitSuggestion(rawMessage);
  const f = facts && typeof facts === 'object' && !Array.isArray(facts) ? (facts as Record<string, unknown>) : {};
  const str = (k: string) => (typeof f[k] === 'string' ? (f[k] as string) : undefined);
  const block: ErrorBlock = { code, message: split.message };
  if (extra.stage) block.stage = extra.stage;
  if (str('file') !== undefined) block.file = str('file');
  if (typeof f.line === 'number') block.line = f.line;
  if (str('field') !== undefined) block.field = str('field');
  if (str('expected') !== undefined) block.expected = str('expected');
  if (str('found') !== undefined) block.found = str('found');
  if (Array.isArray(f.related)) {
    block.related = f.related.filter((r): r is ErrorLocation => !!r && typeof r === 'object' && typeof (r as ErrorLocation).file === 'string' && typeof (r as ErrorLocation).line === 'number');
  }
  if (Array.isArray(f.problems)) block.problems = f.problems.filter((p): p is string => typeof p === 'string');
  const suggestion = extra.suggestion ?? str('suggestion') ?? split.suggestion;
  if (suggestion !== undefined) block.suggestion = suggestion;
  return block;
}

/** Where the problem is, as one line: `file:line, field "x" (expected …, found …)`. */
export function errorWhere(b: ErrorBlock): string | undefined {
  if (b.file === undefined && b.field === undefined) return undefined;
  const at = b.file === undefined ? '' : b.line !== undefined && b.line > 0 ? `${b.file}:${b.line}` : b.file;
  const field = b.field === undefined ? '' : `field "${b.field}"`;
  return [at, field].filter(Boolean).join(', ');
}
