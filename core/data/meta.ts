// meta.json of an ingested dataset (docs/ARCHITECTURE.md "The ingested dataset"). Extra fields
// beyond the contract are additive: categoryName/trainCount/brand per item, userAttributes, sources.
import { z } from 'zod';

export const DatasetCountsSchema = z.object({
  /** Users with samples (the user entity set). */
  users: z.number().int().nonnegative(),
  /** Items with at least one training-part interaction (the item entity set). */
  items: z.number().int().nonnegative(),
  train: z.number().int().nonnegative(),
  test: z.number().int().nonnegative(),
  trainPositive: z.number().int().nonnegative(),
  testPositive: z.number().int().nonnegative(),
  /** Interactions in the kept users' sequences. */
  interactions: z.number().int().nonnegative(),
  /** Items in the index (1..allItems), including those seen only in test parts. */
  allItems: z.number().int().nonnegative(),
  categories: z.number().int().nonnegative(),
  /** Lines dropped as repeats of an earlier (user, item, timestamp) line (`dataset.duplicates: drop`); 0 in datasets written before it was counted. */
  duplicatesDropped: z.number().int().nonnegative().default(0),
});

export const DatasetItemSchema = z.object({
  id: z.string(),
  title: z.string(),
  year: z.number().int().nullable(),
  genres: z.array(z.string()),
  /** Category index 1..C (same as cat.npy); its name is `categories[category-1]`. */
  category: z.number().int().positive(),
  categoryName: z.string(),
  /** Interactions in users' training parts; > 0 means the item is in the item entity set. */
  trainCount: z.number().int().nonnegative(),
  brand: z.string().optional(),
});

export const UserAttributesSchema = z.object({
  gender: z.string(),
  age: z.number().int(),
  occupation: z.number().int(),
  zip: z.string(),
});

export const DatasetMetaSchema = z.object({
  kind: z.enum(['ml-1m', 'amazon-books', 'synthetic']),
  labelThreshold: z.number(),
  historyLength: z.number().int().positive(),
  trainFraction: z.number(),
  splitRule: z.string(),
  counts: DatasetCountsSchema,
  /** Raw user ids; index u ↔ user u. */
  users: z.array(z.string()),
  userAttributes: z.array(UserAttributesSchema).optional(),
  /** index i-1 ↔ item i. */
  items: z.array(DatasetItemSchema),
  /** index c-1 ↔ category c. */
  categories: z.array(z.string()),
  sources: z.array(z.object({ role: z.string(), name: z.string(), sha256: z.string(), bytes: z.number().int().nonnegative() })),
});

export type DatasetMeta = z.infer<typeof DatasetMetaSchema>;
export type DatasetItem = z.infer<typeof DatasetItemSchema>;
export type DatasetCounts = z.infer<typeof DatasetCountsSchema>;

/** The `ingest` block of the run summary (DESIGN.md "CLI contract"). */
export interface IngestSummary {
  users: number;
  items: number;
  train: number;
  test: number;
  trainPositive: number;
  testPositive: number;
  /** Repeated (user, item, timestamp) lines dropped (`dataset.duplicates: drop`; with `error` they fail ingest). */
  duplicatesDropped: number;
}

export function summaryOf(counts: DatasetCounts): IngestSummary {
  const { users, items, train, test, trainPositive, testPositive } = counts;
  return { users, items, train, test, trainPositive, testPositive, duplicatesDropped: counts.duplicatesDropped ?? 0 };
}
