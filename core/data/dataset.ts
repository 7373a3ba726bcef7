// Writing an ingested dataset into the store and reading it back (typed, lazily per array).
import { StageOutput, type ArtifactStore } from '../store';
import type { BuiltDataset } from './split';
import { decodeNpy, encodeNpy, type DecodedNpy } from './npy';
import { DatasetMetaSchema, type DatasetMeta } from './meta';
import { buildItemRaterIndex, knowledgePrefix, type ItemRaterIndex, type Sequences } from './history';

export const META_FILE = 'meta.json';

/** Puts every array and meta.json, then commits; on any failure removes what it wrote. */
export async function writeDataset(out: StageOutput, built: BuiltDataset, commitMeta: Record<string, unknown> = {}): Promise<string> {
  const written: string[] = [];
  try {
    for (const a of built.arrays) {
      written.push(a.name);
      await out.put(a.name, encodeNpy(a.data, a.shape));
    }
    written.push(META_FILE);
    await out.putJson(META_FILE, built.meta);
    return await out.commit('ingest', commitMeta);
  } catch (err) {
    await Promise.all(written.map((n) => out.store.delete(out.objectKey(n)).catch(() => undefined)));
    throw err;
  }
}

export interface SampleArrays {
  n: number;
  historyLength: number;
  user: Int32Array;
  pos: Int32Array;
  item: Int32Array;
  cat: Int32Array;
  rating: Int8Array;
  label: Int8Array;
  /** [n, historyLength] row-major. */
  histItem: Int32Array;
  histRating: Int8Array;
  histCat: Int32Array;
}

/** A stored dataset: meta at once, arrays loaded on first use and kept. */
export class DatasetView {
  private readonly cache = new Map<string, Promise<DecodedNpy>>();
  private seqPromise?: Promise<Sequences & { ts: BigInt64Array }>;
  private raters?: Promise<ItemRaterIndex>;
  private readonly prefixRaters = new Map<number, Promise<ItemRaterIndex>>();

  constructor(
    readonly store: ArtifactStore,
    readonly key: string,
    readonly meta: DatasetMeta,
  ) {}

  array(name: string): Promise<DecodedNpy> {
    let p = this.cache.get(name);
    if (!p) {
      p = this.store.get(`${this.key}/${name}`).then((buf) => decodeNpy(buf, `${this.key}/${name}`));
      this.cache.set(name, p);
    }
    return p;
  }

  sequences(): Promise<Sequences & { ts: BigInt64Array }> {
    this.seqPromise ??= (async () => {
      const [off, item, rating, ts, trainEnd] = await Promise.all(
        ['offsets', 'item', 'rating', 'ts', 'train_end'].map((n) => this.array(`seq/${n}.npy`)),
      );
      return {
        offsets: Float64Array.from(off!.data as BigInt64Array, Number),
        item: item!.data as Int32Array,
        rating: rating!.data as Int8Array,
        ts: ts!.data as BigInt64Array,
        trainEnd: trainEnd!.data as Int32Array,
      };
    })();
    return this.seqPromise;
  }

  async samples(split: 'train' | 'test'): Promise<SampleArrays> {
    const names = ['user', 'pos', 'item', 'cat', 'rating', 'label', 'hist_item', 'hist_rating', 'hist_cat'];
    const a = await Promise.all(names.map((n) => this.array(`${split}/${n}.npy`)));
    const d = (i: number) => a[i]!.data;
    return {
      n: a[0]!.shape[0]!,
      historyLength: this.meta.historyLength,
      user: d(0) as Int32Array,
      pos: d(1) as Int32Array,
      item: d(2) as Int32Array,
      cat: d(3) as Int32Array,
      rating: d(4) as Int8Array,
      label: d(5) as Int8Array,
      histItem: d(6) as Int32Array,
      histRating: d(7) as Int8Array,
      histCat: d(8) as Int32Array,
    };
  }

  /** Item → its training-part raters (for the liking/disliking users of item samples). */
  itemRaters(): Promise<ItemRaterIndex> {
    this.raters ??= this.sequences().then((s) => buildItemRaterIndex(s, this.meta.counts.allItems));
    return this.raters;
  }

  /** The sequences the knowledge stages read under knowledge cutoff `fraction` (0: the whole training part). */
  async knowledgeSequences(fraction: number): Promise<Sequences> {
    return knowledgePrefix(await this.sequences(), fraction);
  }

  /** The item-rater index over the knowledge cutoff's prefix (0: `itemRaters()`). */
  knowledgeRaters(fraction: number): Promise<ItemRaterIndex> {
    if (fraction === 0) return this.itemRaters();
    let p = this.prefixRaters.get(fraction);
    if (!p) {
      p = this.knowledgeSequences(fraction).then((s) => buildItemRaterIndex(s, this.meta.counts.allItems));
      this.prefixRaters.set(fraction, p);
    }
    return p;
  }

  /** Item ids (1..I) of the item entity set: items with a training-part interaction. */
  entityItems(): number[] {
    const out: number[] = [];
    this.meta.items.forEach((it, j) => {
      if (it.trainCount > 0) out.push(j + 1);
    });
    return out;
  }

  item(id: number): DatasetMeta['items'][number] {
    const it = this.meta.items[id - 1];
    if (!it) throw new RangeError(`item ${id} is not in ${this.key} (items 1..${this.meta.items.length})`);
    return it;
  }
}

export async function loadDataset(store: ArtifactStore, key: string): Promise<DatasetView> {
  const out = new StageOutput(store, key);
  if (!(await out.isComplete())) throw new Error(`dataset ${key} is not a complete ingest output in ${store.description}`);
  const meta = await out.getJson(META_FILE, DatasetMetaSchema);
  return new DatasetView(store, key, meta);
}
