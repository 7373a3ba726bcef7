// Training samples of the shared ML-1M half, through the project's own loader and split
// (core/data), rendered the way construction renders them: for the simulator bench and the
// simulator's accuracy test. Nothing here is committed data: it reads ../shared/data.
import { buildDataset, buildItemRaterIndex, itemSampleUsers, loadMovieLens, resolveMovieLensFiles, type Sequences } from '../core/data';
import type { HistoryEntry } from '../core/prompts/history';
import { displayTitle, type CatalogItem } from '../core/sim/catalog';

export interface UserSample {
  user: number;
  history: HistoryEntry[];
  target: string;
  label: boolean;
}

export interface ItemSample {
  item: number;
  title: string;
  like: HistoryEntry[] | null;
  dislike: HistoryEntry[] | null;
  target: HistoryEntry[];
  label: boolean;
}

export interface Ml1mSamples {
  catalog: CatalogItem[];
  trainCount: number;
  trainPositive: number;
  userSamples(n: number, seed: number): UserSample[];
  itemSamples(n: number, seed: number): ItemSample[];
}

/** Deterministic choice of n indices out of `total` (LCG stride), so benches are repeatable. */
function pickIndices(total: number, n: number, seed: number): number[] {
  const out = new Set<number>();
  let x = (seed * 2654435761) >>> 0;
  while (out.size < Math.min(n, total)) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.add(x % total);
  }
  return [...out];
}

export async function loadMl1mSamples(dir: string, maxUsers?: number): Promise<Ml1mSamples> {
  const files = await resolveMovieLensFiles(dir);
  const raw = await loadMovieLens(files);
  if (maxUsers !== undefined && raw.keep === undefined) {
    // Keep only the first users (by raw index) for fast tests.
    const keep = new Uint8Array(raw.interactions.length);
    for (let r = 0; r < raw.interactions.length; r++) keep[r] = raw.interactions.user[r]! < maxUsers ? 1 : 0;
    (raw as { keep?: Uint8Array }).keep = keep;
  }
  const built = buildDataset(raw, { historyLength: 10, trainFraction: 0.8 });
  const arr = (name: string) => built.arrays.find((a) => a.name === name)!.data;
  const meta = built.meta;
  const items = meta.items;
  const title = (i: number) => displayTitle(items[i - 1]!);
  const tItem = arr('train/item.npy') as Int32Array;
  const tLabel = arr('train/label.npy') as Int8Array;
  const hItem = arr('train/hist_item.npy') as Int32Array;
  const hRating = arr('train/hist_rating.npy') as Int8Array;
  const n = tItem.length;
  const seq: Sequences = {
    offsets: Float64Array.from(arr('seq/offsets.npy') as BigInt64Array, (v) => Number(v)),
    item: arr('seq/item.npy') as Int32Array,
    rating: arr('seq/rating.npy') as Int8Array,
    trainEnd: arr('seq/train_end.npy') as Int32Array,
  };
  const catalog: CatalogItem[] = items.map((it) => ({ id: it.id, title: it.title, year: it.year, genres: it.genres }));
  const tUser = arr('train/user.npy') as Int32Array;
  return {
    catalog,
    trainCount: n,
    trainPositive: meta.counts.trainPositive,
    userSamples(count, seed) {
      return pickIndices(n, count, seed).map((s) => {
        const history: HistoryEntry[] = [];
        for (let j = 0; j < 10; j++) {
          const it = hItem[s * 10 + j]!;
          if (it > 0) history.push({ title: title(it), rating: hRating[s * 10 + j]! });
        }
        return { user: tUser[s]!, history, target: title(tItem[s]!), label: tLabel[s] === 1 };
      });
    },
    itemSamples(count, seed) {
      const index = buildItemRaterIndex(seq, items.length);
      const toEntries = (xs: { item: number; rating: number }[]) => xs.map((x) => ({ title: title(x.item), rating: x.rating }));
      return pickIndices(n, count, seed).map((s) => {
        const item = tItem[s]!;
        const sides = itemSampleUsers(seq, index, item, meta.labelThreshold, 10);
        // The target user's history: the sample's own (training part, before the target).
        const target: HistoryEntry[] = [];
        for (let j = 0; j < 10; j++) {
          const it = hItem[s * 10 + j]!;
          if (it > 0) target.push({ title: title(it), rating: hRating[s * 10 + j]! });
        }
        return {
          item,
          title: title(item),
          like: sides.liking ? toEntries(sides.liking.history) : null,
          dislike: sides.disliking ? toEntries(sides.disliking.history) : null,
          target,
          label: tLabel[s] === 1,
        };
      });
    },
  };
}
