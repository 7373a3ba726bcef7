// The slice of the ingested dataset encode reads (docs/ARCHITECTURE.md, "The ingested dataset"),
// through core/data's loader: raw ids per row (to align and check rows), the entity sets (for the
// "without knowledge" count) and each user's training-part items (for approximated users).
import { loadDataset } from '../data/dataset';
import { knowledgePrefix } from '../data/history';
import type { ArtifactStore } from '../store';

export interface EncodeDataset {
  /** Raw user id of row u. */
  userIds: string[];
  /** Raw item id of row i; row 0 (padding) is null. */
  itemIds: (string | null)[];
  /** 1 where the row is in the domain's entity set (users with samples; items with a training interaction). */
  userEntities: Uint8Array;
  itemEntities: Uint8Array;
  /** Items of user u's training part (positions 0..train_end[u]-1); needs `sequences: true`. */
  trainingItems(u: number): Int32Array;
}

/**
 * `knowledgeCutoff` f > 0: `trainingItems` is each user's prefix below floor(f · train_end), the part
 * the knowledge may describe (an approximated user is the mean of those items' vectors).
 */
export async function loadEncodeDataset(store: ArtifactStore, ingestKey: string, opts: { sequences: boolean; knowledgeCutoff?: number | undefined }): Promise<EncodeDataset> {
  const view = await loadDataset(store, ingestKey);
  const { users, items } = view.meta;
  const itemEntities = new Uint8Array(items.length + 1);
  items.forEach((it, j) => (itemEntities[j + 1] = it.trainCount > 0 ? 1 : 0));
  const base = {
    userIds: users,
    itemIds: [null, ...items.map((i) => i.id)],
    userEntities: new Uint8Array(users.length).fill(1),
    itemEntities,
  };
  if (!opts.sequences) {
    return {
      ...base,
      trainingItems: () => {
        throw new Error('loadEncodeDataset: sequences were not loaded (pass { sequences: true })');
      },
    };
  }
  const seq = knowledgePrefix(await view.sequences(), opts.knowledgeCutoff ?? 0);
  return {
    ...base,
    trainingItems(u: number): Int32Array {
      const start = seq.offsets[u]!;
      return seq.item.subarray(start, start + seq.trainEnd[u]!);
    },
  };
}
