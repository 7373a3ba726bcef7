// Rendering and reading interaction histories inside prompts.
//
// Ours: JSON entries joined by ", " — `["Heat (1995)", 2], ["Casino (1995)", 5]` — with `<`, `>`
// and `&` written as \u escapes, so no title can ever produce a tag (e.g. `</User History>`) in the
// prompt text: a title stays data. The brackets of chat-template tokens such as `[INST]` are
// escaped the same way, so no title ends a turn either; JSON.parse still gives every title back. The reader also accepts the authors' Python-repr form, whose
// titles carry unescaped quotes (`['Ender's Game', 5]`), and a JSON array of entries.
import { R4ecError } from '../errors';

import { escapeSpecialTokensInJson } from './special-tokens';

export interface HistoryEntry {
  title: string;
  rating: number;
}

/** What a prompt shows where a like/dislike user does not exist (DESIGN.md item samples). */
export const NO_SUCH_USER = '(no such user)';
/** What a prompt shows for an empty history. */
export const NO_HISTORY = '(no history)';

function escapeJsonString(s: string): string {
  return escapeSpecialTokensInJson(JSON.stringify(s)).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

function renderRating(r: number): string {
  if (!Number.isFinite(r)) throw new Error(`history rating must be a finite number, got ${r}`);
  return String(r);
}

export function renderHistory(entries: readonly HistoryEntry[] | null): string {
  if (entries === null) return NO_SUCH_USER;
  if (entries.length === 0) return NO_HISTORY;
  return entries.map((e) => `[${escapeJsonString(e.title)}, ${renderRating(e.rating)}]`).join(', ');
}

export class HistoryParseError extends R4ecError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message, 'HistoryParseError');
    this.name = 'HistoryParseError';
  }
}

/**
 * Reads a rendered history back into (title, rating) pairs. `null` for "(no such user)", `[]` for
 * "(no history)" or an empty string. Throws HistoryParseError naming the offset when unreadable.
 */
export function readHistory(text: string): HistoryEntry[] | null {
  const s = text.trim();
  if (s === NO_SUCH_USER) return null;
  if (s === '' || s === NO_HISTORY || s === '[]') return [];
  const json = tryJson(s.startsWith('[[') || s.startsWith('[ [') ? s : `[${s}]`);
  if (json) return json;
  return readReprEntries(s.startsWith('[[') || s.startsWith('[ [') ? s.slice(1, s.lastIndexOf(']')).trim() : s);
}

function tryJson(s: string): HistoryEntry[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const out: HistoryEntry[] = [];
  for (const e of v) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') return undefined;
    out.push({ title: e[0], rating: e[1] });
  }
  return out;
}

/**
 * The authors' form: entries `['TITLE', R]` (or `["TITLE", R]`) joined by ", ", quotes inside
 * TITLE left unescaped. A title ends at the first `Q, NUMBER]` (Q = its opening quote) that is
 * followed by the next entry (`, [`) or the end — so apostrophes, commas and brackets inside titles
 * are fine.
 */
function readReprEntries(s: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  let i = 0;
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  while (i < s.length) {
    skipWs();
    if (s[i] !== '[') throw new HistoryParseError(`history entry ${out.length + 1}: expected "[" at offset ${i}, found ${JSON.stringify(s.slice(i, i + 20))}`, i);
    i++;
    skipWs();
    const q = s[i];
    if (q !== "'" && q !== '"') throw new HistoryParseError(`history entry ${out.length + 1}: expected a quoted title at offset ${i}`, i);
    const titleStart = i + 1;
    let found: { end: number; rating: number; next: number } | undefined;
    for (let j = titleStart; j < s.length; j++) {
      if (s[j] !== q) continue;
      const m = /^\s*,\s*(-?\d+(?:\.\d+)?)\s*\]/.exec(s.slice(j + 1));
      if (!m) continue;
      const after = j + 1 + m[0].length;
      const rest = s.slice(after);
      if (/^\s*$/.test(rest) || /^\s*,\s*\[/.test(rest)) {
        found = { end: j, rating: Number(m[1]), next: after };
        break;
      }
    }
    if (!found) throw new HistoryParseError(`history entry ${out.length + 1}: no closing ${q}, RATING] after offset ${titleStart}`, titleStart);
    let title = s.slice(titleStart, found.end);
    if (q === '"' && title.includes('\\')) {
      // A JSON-escaped title inside an otherwise repr-form list.
      try {
        title = JSON.parse(`"${title}"`) as string;
      } catch {
        /* keep raw */
      }
    }
    out.push({ title, rating: found.rating });
    i = found.next;
    skipWs();
    if (s[i] === ',') i++;
  }
  return out;
}
