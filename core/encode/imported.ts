// Knowledge made elsewhere (another pipeline's files, a team's own LLM jobs, the planted set's
// oracle texts) in the refine record format without the dataset row: one
// `{ "entityId": "...", "texts": ["..."] }` per line; `index`, `kept` and `approximated` may be
// given as in refine's output and are checked the same way. Every line is validated against the
// ingested dataset before anything is encoded: bad JSON, an unknown or repeated id, a row that
// does not match the id, each names the file, line and field.
import { z } from 'zod';
import { DataError } from '../data/errors';
import { checkKnowledgeFields, checkOnce, knowledgeLines, type EntityIndex, type KnowledgeRecord } from './knowledge';

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
  for (const { rec, n } of knowledgeLines(text, file, ImportedRecordSchema)) {
    const row = rowOf.get(rec.entityId);
    if (row === undefined) {
      throw new DataError(file, n, 'entityId', `the raw id of a ${index.domain} in the ingested dataset`, rec.entityId);
    }
    if (rec.index !== undefined && rec.index !== row) {
      throw new DataError(file, n, 'index', `${row} (the dataset's row of ${index.domain} "${rec.entityId}") or no index`, String(rec.index));
    }
    checkOnce(seen, row, index.domain, file, n, 'entityId', rec.entityId);
    checkKnowledgeFields(rec, index.domain, file, n);
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
