// The knowledge sets refine hands to encode (docs/ARCHITECTURE.md, "Knowledge sets (refine → encode)"):
// one JSONL file per set and domain, one entity per line. This module validates a file and turns it
// into an encoding plan: the distinct texts to encode and, per entity, which of them to average.
import { z } from 'zod';
import type { Domain } from '../../config/names';
import { DataError } from '../data/errors';

export const KnowledgeRecordSchema = z
  .object({
    /** Raw id as in the dataset (meta.json users[index] / items[index-1].id). */
    entityId: z.string().min(1),
    /** Row in the dataset's index: user u (0-based) or item i (1-based; 0 is padding). */
    index: z.number().int().min(0),
    /** Knowledge samples; null / empty / "nan" mean "no text" (what a failed generation leaves). */
    texts: z.array(z.string().nullable()),
    /** Filter strategy: which samples survived; aligned with texts. Absent = all. */
    kept: z.array(z.boolean()).optional(),
    /** A user below the active-user threshold: represented by the mean of their training items' vectors. */
    approximated: z.literal(true).optional(),
  })
  .strict();
export type KnowledgeRecord = z.infer<typeof KnowledgeRecordSchema>;

/** What a knowledge file is checked against: the dataset's raw ids in row order. */
export interface EntityIndex {
  domain: Domain;
  /** Raw id of each row; `null` for item row 0 (padding). */
  ids: readonly (string | null)[];
}

export interface PlannedEntity {
  row: number;
  entityId: string;
  /** Indices into the plan's `texts`, whose vectors are averaged. Empty = no knowledge. */
  textIds: number[];
  approximated: boolean;
}

export interface EncodingPlan {
  /** Distinct usable texts in first-occurrence order: the sequence the shards cut. */
  texts: string[];
  entities: PlannedEntity[];
  stats: {
    records: number;
    /** Samples that were null, empty or "nan" and so dropped. */
    emptyTexts: number;
    /** Entities whose `kept` mask selected a subset. */
    filtered: number;
    /** Entities with a `kept` mask that kept nothing usable: all their usable samples are averaged. */
    keptNone: number;
  };
}

const MISSING = /^(nan|none|null)$/i;

/** A sample counts as knowledge unless it is null, blank, or a missing-value marker ("NaN" from pandas). */
export function isUsableText(t: string | null): t is string {
  return t !== null && t.trim() !== '' && !MISSING.test(t.trim());
}

/**
 * The non-blank lines of a knowledge JSONL file, each parsed with `schema`, with its 1-based line
 * number. Errors name the file, line and field. Shared by refine's own files and imported ones so
 * both report a bad line the same way.
 */
export function* knowledgeLines<S extends z.ZodTypeAny>(text: string, file: string, schema: S): Generator<{ rec: z.output<S>; n: number }> {
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
    const r = schema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new DataError(file, n, issue.path.join('.') || '(record)', issue.message, line);
    }
    yield { rec: r.data as z.output<S>, n };
  }
}

/** Throws when `row` was already seen in the file; else records it at line `n`. */
export function checkOnce(seen: Map<number, number>, row: number, domain: Domain, file: string, n: number, field: string, found: string): void {
  const dup = seen.get(row);
  if (dup !== undefined) throw new DataError(file, n, field, `each ${domain} once (also on line ${dup})`, found);
  seen.set(row, n);
}

/** The checks of a record that do not depend on how its row was found: `kept` and `approximated`. */
export function checkKnowledgeFields(rec: Pick<KnowledgeRecord, 'texts' | 'kept' | 'approximated'>, domain: Domain, file: string, n: number): void {
  if (rec.kept && rec.kept.length !== rec.texts.length) {
    throw new DataError(file, n, 'kept', `one flag per text (${rec.texts.length})`, `${rec.kept.length} flags`);
  }
  if (rec.approximated) {
    if (domain !== 'user') throw new DataError(file, n, 'approximated', 'only on user records (approximated users)', 'true');
    if (rec.texts.some(isUsableText)) {
      throw new DataError(file, n, 'texts', 'no texts on an approximated user (its vector comes from its training items)', JSON.stringify(rec.texts));
    }
  }
}

/**
 * Parses and checks a knowledge JSONL file: every line a record, indices in range and unique, ids
 * matching the dataset at that index. Errors name the file, line and field.
 */
export function parseKnowledgeFile(text: string, file: string, index: EntityIndex): KnowledgeRecord[] {
  const out: KnowledgeRecord[] = [];
  const seen = new Map<number, number>();
  for (const { rec, n } of knowledgeLines(text, file, KnowledgeRecordSchema)) {
    const first = index.domain === 'item' ? 1 : 0;
    if (rec.index < first || rec.index >= index.ids.length) {
      throw new DataError(file, n, 'index', `a ${index.domain} row in ${first}..${index.ids.length - 1}`, String(rec.index));
    }
    if (index.ids[rec.index] !== rec.entityId) {
      throw new DataError(file, n, 'entityId', `"${String(index.ids[rec.index])}" (the dataset's ${index.domain} at index ${rec.index})`, rec.entityId);
    }
    checkOnce(seen, rec.index, index.domain, file, n, 'index', String(rec.index));
    checkKnowledgeFields(rec, index.domain, file, n);
    out.push(rec);
  }
  return out;
}

/** Which texts each entity averages (filter strategy) and the distinct texts to encode. */
export function planEncoding(records: readonly KnowledgeRecord[]): EncodingPlan {
  const textId = new Map<string, number>();
  const texts: string[] = [];
  const stats = { records: records.length, emptyTexts: 0, filtered: 0, keptNone: 0 };
  const idOf = (t: string): number => {
    let id = textId.get(t);
    if (id === undefined) {
      id = texts.length;
      texts.push(t);
      textId.set(t, id);
    }
    return id;
  };
  const entities: PlannedEntity[] = [];
  for (const rec of records) {
    if (rec.approximated) {
      entities.push({ row: rec.index, entityId: rec.entityId, textIds: [], approximated: true });
      continue;
    }
    const usable = rec.texts.map((t, i) => ({ t, i })).filter((x): x is { t: string; i: number } => isUsableText(x.t));
    stats.emptyTexts += rec.texts.length - usable.length;
    let chosen = usable;
    if (rec.kept) {
      const kept = usable.filter((x) => rec.kept![x.i]);
      if (kept.length > 0) {
        if (kept.length < usable.length) stats.filtered++;
        chosen = kept;
      } else if (usable.length > 0) {
        stats.keptNone++;
      }
    }
    entities.push({ row: rec.index, entityId: rec.entityId, textIds: chosen.map((x) => idOf(x.t)), approximated: false });
  }
  return { texts, entities, stats };
}
