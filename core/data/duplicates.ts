// Repeated (user, item, timestamp) lines. A repeat is one event written twice: left in, it can sit
// in a user's training part and test part at once, or in the history of its own sample. By default
// it is an error naming both lines; with `dataset.duplicates: drop` the first line is kept and the
// repeats are dropped and counted. The same item rated again at another time is not a repeat.
import { DataError } from './errors';
import type { InteractionColumns } from './raw';

export const DUPLICATE_POLICIES = ['error', 'drop'] as const;
export type DuplicatePolicy = (typeof DUPLICATE_POLICIES)[number];

export interface DuplicateSource {
  /** The file's name in errors. */
  file: string;
  /** The key fields as the file names them ("UserID::MovieID::Timestamp"). */
  field: string;
  /** The same, for prose ("(UserID, MovieID, Timestamp)"). */
  what: string;
  /** A row as the file writes it. */
  show(row: number): string;
}

/** [repeat row, the earlier row it repeats] pairs, in row (file) order. */
export function findDuplicates(cols: InteractionColumns, nUsers: number, nItems: number): [number, number][] {
  const n = cols.length;
  // Rows grouped by user in file order (a stable counting sort).
  const start = new Int32Array(nUsers + 1);
  for (let r = 0; r < n; r++) start[cols.user[r]! + 1]!++;
  for (let u = 0; u < nUsers; u++) start[u + 1]! += start[u]!;
  const order = new Int32Array(n);
  const fill = start.slice(0, nUsers);
  for (let r = 0; r < n; r++) order[fill[cols.user[r]!]!++] = r;
  // A user's item seen twice is rare: only such users are sorted, by (item, time, row).
  const seenBy = new Int32Array(nItems).fill(-1);
  const pairs: [number, number][] = [];
  for (let u = 0; u < nUsers; u++) {
    let repeat = false;
    for (let p = start[u]!; p < start[u + 1]!; p++) {
      const i = cols.item[order[p]!]!;
      if (seenBy[i] === u) repeat = true;
      else seenBy[i] = u;
    }
    if (!repeat) continue;
    const seg = order.slice(start[u]!, start[u + 1]!).sort((a, b) => cols.item[a]! - cols.item[b]! || cols.ts[a]! - cols.ts[b]! || a - b);
    let first = seg[0]!;
    for (let k = 1; k < seg.length; k++) {
      const r = seg[k]!;
      if (cols.item[r] === cols.item[first] && cols.ts[r] === cols.ts[first]) pairs.push([r, first]);
      else first = r;
    }
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}

/**
 * Applies the policy: `error` throws a DataError naming the first repeat and the line it repeats;
 * `drop` returns a keep-mask without the repeats (undefined when there are none) and their count.
 */
export function applyDuplicatePolicy(
  cols: InteractionColumns,
  nUsers: number,
  nItems: number,
  policy: DuplicatePolicy,
  src: DuplicateSource,
): { keep: Uint8Array | undefined; dropped: number } {
  const pairs = findDuplicates(cols, nUsers, nItems);
  if (pairs.length === 0) return { keep: undefined, dropped: 0 };
  if (policy === 'error') {
    const [r, first] = pairs[0]!;
    const many = pairs.length > 1 ? `s (${pairs.length} repeated lines in this file)` : '';
    throw new DataError(src.file, cols.line[r]!, src.field, `each ${src.what} once`, src.show(r), {
      related: [{ file: src.file, line: cols.line[first]!, role: 'first seen at' }],
      suggestion: `remove the repeated line${many}, or set dataset.duplicates: drop to keep each first line and drop its repeats`,
    });
  }
  const keep = new Uint8Array(cols.length).fill(1);
  for (const [r] of pairs) keep[r] = 0;
  return { keep, dropped: pairs.length };
}
