// What a loader produces before the split: the catalog, the users and every interaction in file
// order, as typed columns (1M ratings must not become 1M objects).

export type DatasetKind = 'ml-1m' | 'amazon-books' | 'synthetic';

export interface ItemInfo {
  rawId: string;
  title: string;
  year: number | null;
  genres: string[];
  /** The item's category (ML: its first genre; Amazon: its first sub-category of Books). */
  category: string;
  brand?: string;
}

export interface UserAttributes {
  gender: string;
  age: number;
  occupation: number;
  zip: string;
}

export interface SourceFile {
  /** Role of the file ("ratings", "movies", ...). */
  role: string;
  name: string;
  sha256: string;
  bytes: number;
}

/** Interactions in file order; `user`/`item` index into `RawDataset.users`/`items`. */
export class InteractionColumns {
  length = 0;
  user: Int32Array;
  item: Int32Array;
  rating: Int8Array;
  ts: Float64Array;
  /** The 1-based line of the source file each row came from (0 = not from a file), for errors. */
  line: Int32Array;

  constructor(capacity = 1 << 16) {
    this.user = new Int32Array(capacity);
    this.item = new Int32Array(capacity);
    this.rating = new Int8Array(capacity);
    this.ts = new Float64Array(capacity);
    this.line = new Int32Array(capacity);
  }

  push(user: number, item: number, rating: number, ts: number, line = 0): void {
    if (this.length === this.user.length) this.grow();
    const i = this.length++;
    this.user[i] = user;
    this.item[i] = item;
    this.rating[i] = rating;
    this.ts[i] = ts;
    this.line[i] = line;
  }

  private grow(): void {
    const cap = this.user.length * 2;
    const u = new Int32Array(cap);
    u.set(this.user);
    this.user = u;
    const it = new Int32Array(cap);
    it.set(this.item);
    this.item = it;
    const r = new Int8Array(cap);
    r.set(this.rating);
    this.rating = r;
    const t = new Float64Array(cap);
    t.set(this.ts);
    this.ts = t;
    const l = new Int32Array(cap);
    l.set(this.line);
    this.line = l;
  }
}

export interface RawDataset {
  kind: DatasetKind;
  /** Label = rating > labelThreshold. */
  labelThreshold: number;
  users: string[];
  /** Aligned with `users` where the source has them (MovieLens users.dat). */
  userAttributes?: UserAttributes[];
  items: ItemInfo[];
  interactions: InteractionColumns;
  /** Rows to ignore (e.g. removed by a k-core filter); absent = all rows kept. */
  keep?: Uint8Array;
  /** Lines dropped as repeats of an earlier (user, item, timestamp) line (`dataset.duplicates: drop`). */
  duplicatesDropped?: number;
}

/** Ids sort numerically when all are integers (MovieLens), else as strings (Amazon). */
export function idOrder(ids: readonly string[]): number[] {
  const idx = ids.map((_, i) => i);
  const numeric = ids.every((s) => /^\d+$/.test(s));
  if (numeric) idx.sort((a, b) => Number(ids[a]) - Number(ids[b]) || a - b);
  else idx.sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b));
  return idx;
}
