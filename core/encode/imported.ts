// Knowledge made elsewhere (another pipeline's files, a team's own LLM jobs, the planted set's
// oracle texts) in the refine record format without the dataset row: one
// `{ "entityId": "...", "texts": ["..."] }` per line; `index`, `kept` and `approximated` may be
// given as in refine's output and are checked the same way. Every line is validated against the
// ingested dataset before anything is encoded: bad JSON, an unknown or repeated id, a row that
// does not match the id, each names the file, line and field.
import { z } from 'zod';
import { DataError } from '../data/errors';
import { isUsableText, type EntityIndex, type KnowledgeRecord } from './knowledge';

const ImportedRecordSchema = z
  .object({
    entityId: z.string().min(1),
    texts: z.array(z.string().nullable()),
    index: z.number().int().min(0).optional(),
    kept: z.array(z.boolean()).optional(),
    approximated: z.literal(true).optional(),
  })
  // Fields other producers add (scores, timestamps, model names) are theirs, not an error.
  .passthrough();

/** Parses an imported knowledge file into refine records (rows resolved from the ids). */
export function parseImportedKnowledge(text: string, file: string, index: EntityIndex): KnowledgeRecord[] {
  const rowOf = new Map<string, number>();
  index.ids.forEach((id, row) => {
    if (id !== null) rowOf.set(id, row);
  });
  const out: KnowledgeRecord[] = [];
  const seen = new Map<number, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const n = i + 1;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new DataError(file, n, '(line)', 'one JSON object per line', line);
    }
    const r = ImportedRecordSchema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new DataError(file, n, issue.path.join('.') || '(record)', issue.message, line);
    }
    const rec = r.data;
    const row = rowOf.get(rec.entityId);
    if (row === undefined) {
      throw new DataError(file, n, 'entityId', `the raw id of a ${index.domain} in the ingested dataset`, rec.entityId);
    }
    if (rec.index !== undefined && rec.index !== row) {
      throw new DataError(file, n, 'index', `${row} (the dataset's row of ${index.domain} "${rec.entityId}") or no index`, String(rec.index));
    }
    const dup = seen.get(row);
    if (dup !== undefined) throw new DataError(file, n, 'entityId', `each ${index.domain} once (also on line ${dup})`, rec.entityId);
    seen.set(row, n);
    if (rec.kept && rec.kept.length !== rec.texts.length) {
      throw new DataError(file, n, 'kept', `one flag per text (${rec.texts.length})`, `${rec.kept.length} flags`);
    }
    if (rec.approximated) {
      if (index.domain !== 'user') throw new DataError(file, n, 'approximated', 'only on user records (approximated users)', 'true');
      if (rec.texts.some(isUsableText)) {
        throw new DataError(file, n, 'texts', 'no texts on an approximated user (its vector comes from its training items)', JSON.stringify(rec.texts));
      }
    }
    out.push({
      entityId: rec.entityId,
      index: row,
      texts: rec.texts,
      ...(rec.kept ? { kept: rec.kept } : {}),
      ...(rec.approximated ? { approximated: true as const } : {}),
    });
  }
  return out;
}
