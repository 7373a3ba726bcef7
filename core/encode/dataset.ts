// The slice of the ingested dataset that encode reads (docs/ARCHITECTURE.md, "The ingested dataset"):
// raw ids per row (to align and check rows) and each user's training-part items (approximated users).
import { z } from 'zod';
import { DataError } from '../data/errors';
import { decodeNpy } from '../data/npy';
import type { ArtifactStore } from '../store';

const MetaSchema = z.object({
  counts: z.object({ users: z.number().int().min(0), items: z.number().int().min(0) }).passthrough(),
  users: z.array(z.union([z.string(), z.number()])),
  items: z.array(z.object({ id: z.union([z.string(), z.number()]) }).passthrough()),
});

export interface EncodeDataset {
  /** Raw user id of row u. */
  userIds: string[];
  /** Raw item id of row i; row 0 (padding) is null. */
  itemIds: (string | null)[];
  /** Items of user u's training part (positions 0..train_end[u]-1 of the sequence). */
  trainingItems(u: number): Int32Array;
}

async function npy(store: ArtifactStore, key: string, dtype: string): Promise<ReturnType<typeof decodeNpy>> {
  if (!(await store.exists(key))) throw new DataError(key, 0, '(file)', `the ingest output's ${key.split('/').slice(-2).join('/')}`);
  const a = decodeNpy(await store.get(key), key);
  if (a.dtype !== dtype) throw new DataError(key, 0, 'dtype', dtype, a.dtype);
  return a;
}

/** Reads meta.json, and the sequence arrays when `sequences` (only approximated users need them). */
export async function loadEncodeDataset(store: ArtifactStore, ingestKey: string, opts: { sequences: boolean }): Promise<EncodeDataset> {
  const metaKey = `${ingestKey}/meta.json`;
  let raw: unknown;
  try {
    raw = JSON.parse((await store.get(metaKey)).toString('utf8'));
  } catch (err) {
    throw new DataError(metaKey, 0, '(file)', 'the ingest output meta.json', (err as Error).message);
  }
  const r = MetaSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DataError(metaKey, 0, issue.path.join('.'), issue.message);
  }
  const meta = r.data;
  if (meta.users.length !== meta.counts.users) throw new DataError(metaKey, 0, 'users', `${meta.counts.users} ids (counts.users)`, `${meta.users.length}`);
  if (meta.items.length !== meta.counts.items) throw new DataError(metaKey, 0, 'items', `${meta.counts.items} items (counts.items)`, `${meta.items.length}`);
  const userIds = meta.users.map(String);
  const itemIds: (string | null)[] = [null, ...meta.items.map((i) => String(i.id))];

  if (!opts.sequences) {
    return {
      userIds,
      itemIds,
      trainingItems: () => {
        throw new Error('loadEncodeDataset: sequences were not loaded (pass { sequences: true })');
      },
    };
  }
  const offsets = (await npy(store, `${ingestKey}/seq/offsets.npy`, 'int64')).data as BigInt64Array;
  const item = (await npy(store, `${ingestKey}/seq/item.npy`, 'int32')).data as Int32Array;
  const trainEnd = (await npy(store, `${ingestKey}/seq/train_end.npy`, 'int32')).data as Int32Array;
  if (offsets.length !== userIds.length + 1 || trainEnd.length !== userIds.length) {
    throw new DataError(
      `${ingestKey}/seq`,
      0,
      'offsets/train_end',
      `${userIds.length + 1} offsets and ${userIds.length} train ends`,
      `${offsets.length} and ${trainEnd.length}`,
    );
  }
  return {
    userIds,
    itemIds,
    trainingItems(u: number): Int32Array {
      const start = Number(offsets[u]!);
      return item.subarray(start, start + trainEnd[u]!);
    },
  };
}
