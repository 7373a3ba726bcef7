// The authors' split (DESIGN.md "Stages → ingest", read against ucas-hao/R4ec
// preprocess/*.py and generate_data_and_prompt.py):
// per user a stable sort by timestamp (ties keep file order), n interactions, k = floor(0.8·n).
// With 0-based positions, CTR samples target positions h+1..k (train) and k+1..n-1 (test), h = 10;
// a sample's history is positions idx-h..idx-1. Position 0..h are never targets, and the train
// samples reach position k, so the training part (everything a train sample touches) is 0..k and
// `train_end` = k+1. Label = rating > threshold. Users without samples are dropped; items are all
// items of the kept users' sequences, and the item entity set is those with a training-part
// interaction.
import type { NpyArray } from './npy';
import { idOrder, RawDataset } from './raw';
import type { DatasetMeta } from './meta';

export interface SplitOptions {
  historyLength: number;
  trainFraction: number;
}

export interface NamedArray {
  name: string;
  data: NpyArray;
  shape: number[];
}

export interface BuiltDataset {
  meta: DatasetMeta;
  arrays: NamedArray[];
}

export const SPLIT_RULE =
  'per user: stable sort by timestamp (ties keep file order), n interactions, k = floor(trainFraction*n); ' +
  '0-based target positions historyLength+1..k are train, k+1..n-1 are test; history = positions idx-historyLength..idx-1 ' +
  '(oldest first, zero-padded at the end when shorter); training part = positions 0..k (train_end = k+1)';

/** Number of train/test samples for a user with n interactions (pure, for tests and checks). */
export function splitBounds(n: number, opts: SplitOptions): { k: number; trainFrom: number; trainTo: number; testFrom: number; testTo: number; trainEnd: number } {
  const k = Math.floor(opts.trainFraction * n);
  // Half-open ranges [from, to) of 0-based target positions.
  const trainFrom = opts.historyLength + 1;
  const trainTo = Math.max(trainFrom, Math.min(k + 1, n));
  const testFrom = Math.max(k + 1, 1);
  const testTo = Math.max(testFrom, n);
  return { k, trainFrom, trainTo, testFrom, testTo, trainEnd: Math.min(k + 1, n) };
}

export function buildDataset(raw: RawDataset, opts: SplitOptions): BuiltDataset {
  const cols = raw.interactions;
  const nRows = cols.length;
  const nRawUsers = raw.users.length;
  const h = opts.historyLength;

  // Group rows by user in file order (counting sort is stable), then sort each user's rows by
  // (timestamp, row) so equal timestamps keep file order whatever the engine's sort does.
  const counts = new Int32Array(nRawUsers + 1);
  for (let r = 0; r < nRows; r++) if (!raw.keep || raw.keep[r]) counts[cols.user[r]! + 1]!++;
  for (let u = 0; u < nRawUsers; u++) counts[u + 1]! += counts[u]!;
  const start = counts.slice();
  const order = new Int32Array(counts[nRawUsers]!);
  const fill = counts.slice(0, nRawUsers);
  for (let r = 0; r < nRows; r++) if (!raw.keep || raw.keep[r]) order[fill[cols.user[r]!]!++] = r;
  const ts = cols.ts;
  const byTime = (a: number, b: number) => ts[a]! - ts[b]! || a - b;
  for (let u = 0; u < nRawUsers; u++) {
    const seg = order.subarray(start[u]!, start[u + 1]!);
    if (seg.length > 1) seg.sort(byTime);
  }

  // Users with at least one sample, in raw-id order.
  const keptUsers: number[] = [];
  for (const u of idOrder(raw.users)) {
    const n = start[u + 1]! - start[u]!;
    const b = splitBounds(n, opts);
    if (b.trainTo > b.trainFrom || b.testTo > b.testFrom) keptUsers.push(u);
  }

  // Items of kept users' sequences, in raw-id order; 0 = padding.
  const itemUsed = new Uint8Array(raw.items.length);
  for (const u of keptUsers) for (let p = start[u]!; p < start[u + 1]!; p++) itemUsed[cols.item[order[p]!]!] = 1;
  const itemOrder = idOrder(raw.items.map((it) => it.rawId)).filter((i) => itemUsed[i]);
  const itemId = new Int32Array(raw.items.length);
  itemOrder.forEach((raw_i, j) => (itemId[raw_i] = j + 1));
  const categories = [...new Set(itemOrder.map((i) => raw.items[i]!.category))].sort();
  const catId = new Map(categories.map((c, j) => [c, j + 1]));
  const itemCat = new Int32Array(itemOrder.length + 1);
  itemOrder.forEach((raw_i, j) => (itemCat[j + 1] = catId.get(raw.items[raw_i]!.category)!));

  // Sequences (CSR) and sample counts.
  const U = keptUsers.length;
  const offsets = new BigInt64Array(U + 1);
  const trainEnd = new Int32Array(U);
  let total = 0;
  let nTrain = 0;
  let nTest = 0;
  for (let j = 0; j < U; j++) {
    const u = keptUsers[j]!;
    const n = start[u + 1]! - start[u]!;
    const b = splitBounds(n, opts);
    offsets[j] = BigInt(total);
    trainEnd[j] = b.trainEnd;
    total += n;
    nTrain += b.trainTo - b.trainFrom;
    nTest += b.testTo - b.testFrom;
  }
  offsets[U] = BigInt(total);
  const seqItem = new Int32Array(total);
  const seqRating = new Int8Array(total);
  const seqTs = new BigInt64Array(total);
  const itemTrainCount = new Int32Array(itemOrder.length + 1);
  let q = 0;
  for (let j = 0; j < U; j++) {
    const u = keptUsers[j]!;
    for (let p = start[u]!, pos = 0; p < start[u + 1]!; p++, pos++, q++) {
      const r = order[p]!;
      const it = itemId[cols.item[r]!]!;
      seqItem[q] = it;
      seqRating[q] = cols.rating[r]!;
      seqTs[q] = BigInt(ts[r]!);
      if (pos < trainEnd[j]!) itemTrainCount[it]!++;
    }
  }

  const makeSplit = (n: number) => ({
    user: new Int32Array(n),
    pos: new Int32Array(n),
    item: new Int32Array(n),
    cat: new Int32Array(n),
    rating: new Int8Array(n),
    label: new Int8Array(n),
    histItem: new Int32Array(n * h),
    histRating: new Int8Array(n * h),
    histCat: new Int32Array(n * h),
    positive: 0,
  });
  const train = makeSplit(nTrain);
  const test = makeSplit(nTest);
  const fillSamples = (s: ReturnType<typeof makeSplit>, at: number, j: number, base: number, pos: number) => {
    const it = seqItem[base + pos]!;
    const rating = seqRating[base + pos]!;
    s.user[at] = j;
    s.pos[at] = pos;
    s.item[at] = it;
    s.cat[at] = itemCat[it]!;
    s.rating[at] = rating;
    const label = rating > raw.labelThreshold ? 1 : 0;
    s.label[at] = label;
    s.positive += label;
    const from = Math.max(0, pos - h);
    for (let x = from, c = at * h; x < pos; x++, c++) {
      const hi = seqItem[base + x]!;
      s.histItem[c] = hi;
      s.histRating[c] = seqRating[base + x]!;
      s.histCat[c] = itemCat[hi]!;
    }
  };
  let ti = 0;
  let si = 0;
  for (let j = 0; j < U; j++) {
    const base = Number(offsets[j]);
    const n = Number(offsets[j + 1]) - base;
    const b = splitBounds(n, opts);
    for (let pos = b.trainFrom; pos < b.trainTo; pos++) fillSamples(train, ti++, j, base, pos);
    for (let pos = b.testFrom; pos < b.testTo; pos++) fillSamples(test, si++, j, base, pos);
  }

  const entityItems = itemTrainCount.reduce((a, c, i) => a + (i > 0 && c > 0 ? 1 : 0), 0);
  const meta: DatasetMeta = {
    kind: raw.kind,
    labelThreshold: raw.labelThreshold,
    historyLength: h,
    trainFraction: opts.trainFraction,
    splitRule: SPLIT_RULE,
    counts: {
      users: U,
      items: entityItems,
      train: nTrain,
      test: nTest,
      trainPositive: train.positive,
      testPositive: test.positive,
      interactions: total,
      allItems: itemOrder.length,
      categories: categories.length,
      duplicatesDropped: raw.duplicatesDropped ?? 0,
    },
    users: keptUsers.map((u) => raw.users[u]!),
    ...(raw.userAttributes ? { userAttributes: keptUsers.map((u) => raw.userAttributes![u]!) } : {}),
    items: itemOrder.map((raw_i, j) => {
      const it = raw.items[raw_i]!;
      return {
        id: it.rawId,
        title: it.title,
        year: it.year,
        genres: it.genres,
        category: itemCat[j + 1]!,
        categoryName: it.category,
        trainCount: itemTrainCount[j + 1]!,
        ...(it.brand !== undefined ? { brand: it.brand } : {}),
      };
    }),
    categories,
    sources: [],
  };
  const splitArrays = (name: string, s: ReturnType<typeof makeSplit>, n: number): NamedArray[] => [
    { name: `${name}/user.npy`, data: s.user, shape: [n] },
    { name: `${name}/pos.npy`, data: s.pos, shape: [n] },
    { name: `${name}/item.npy`, data: s.item, shape: [n] },
    { name: `${name}/cat.npy`, data: s.cat, shape: [n] },
    { name: `${name}/rating.npy`, data: s.rating, shape: [n] },
    { name: `${name}/label.npy`, data: s.label, shape: [n] },
    { name: `${name}/hist_item.npy`, data: s.histItem, shape: [n, h] },
    { name: `${name}/hist_rating.npy`, data: s.histRating, shape: [n, h] },
    { name: `${name}/hist_cat.npy`, data: s.histCat, shape: [n, h] },
  ];
  return {
    meta,
    arrays: [
      ...splitArrays('train', train, nTrain),
      ...splitArrays('test', test, nTest),
      { name: 'seq/offsets.npy', data: offsets, shape: [U + 1] },
      { name: 'seq/item.npy', data: seqItem, shape: [total] },
      { name: 'seq/rating.npy', data: seqRating, shape: [total] },
      { name: 'seq/ts.npy', data: seqTs, shape: [total] },
      { name: 'seq/train_end.npy', data: trainEnd, shape: [U] },
    ],
  };
}
