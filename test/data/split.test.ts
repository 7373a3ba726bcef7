// The authors' split on a hand-made data set: exact sample boundaries, histories, ties, entity sets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InteractionColumns, type ItemInfo, type RawDataset } from '../../core/data/raw';
import { buildDataset, splitBounds, type NamedArray } from '../../core/data/split';

type Row = [user: string, item: string, rating: number, ts: number];

function rawOf(rows: Row[]): RawDataset {
  const users = [...new Set(rows.map((r) => r[0]))];
  const itemIds = [...new Set(rows.map((r) => r[1]))];
  const items: ItemInfo[] = itemIds.map((id) => ({ rawId: id, title: `Movie ${id} (1999)`, year: 1999, genres: [Number(id) % 2 ? 'Drama' : 'Comedy'], category: Number(id) % 2 ? 'Drama' : 'Comedy' }));
  const cols = new InteractionColumns(2);
  for (const [u, i, r, t] of rows) cols.push(users.indexOf(u), itemIds.indexOf(i), r, t);
  return { kind: 'ml-1m', labelThreshold: 3, users, items, interactions: cols };
}

const ratingOf = (item: number) => ((item * 7) % 5) + 1;

// User 7: 20 interactions, written out of time order, with a timestamp tie (103 and 102 at t=300,
// 103 first in the file). Sorted: 101,103,102,104,105,106..120.
const user7: Row[] = [
  ['7', '105', ratingOf(105), 500],
  ['7', '101', ratingOf(101), 100],
  ['7', '103', ratingOf(103), 300],
  ['7', '102', ratingOf(102), 300],
  ['7', '104', ratingOf(104), 400],
  ...Array.from({ length: 15 }, (_, j): Row => {
    const item = 120 - j;
    return ['7', String(item), ratingOf(item), (item - 100) * 100];
  }),
];
const seq7 = [101, 103, 102, 104, 105, ...Array.from({ length: 15 }, (_, j) => 106 + j)];
// User 3: 13 interactions, the last one an item nobody else has (only in a test part).
const user3: Row[] = [...Array.from({ length: 12 }, (_, j): Row => ['3', String(201 + j), 5 - (j % 5), 1000 + j]), ['3', '999', 5, 2000]];
// User 12: 11 interactions (test samples only, the first with a short history).
const user12: Row[] = Array.from({ length: 11 }, (_, j): Row => ['12', String(101 + j), 4, 5000 + j]);
// User 5: 5 interactions, no sample at all: dropped, and so is the item only they rated.
const user5: Row[] = Array.from({ length: 5 }, (_, j): Row => ['5', j === 0 ? '50' : String(201 + j), 3, 10 + j]);

const built = buildDataset(rawOf([...user7, ...user5, ...user3, ...user12]), { historyLength: 10, trainFraction: 0.8 });
const arr = (name: string): NamedArray => {
  const a = built.arrays.find((x) => x.name === name);
  assert.ok(a, `array ${name}`);
  return a;
};
const nums = (name: string) => Array.from(arr(name).data as ArrayLike<number>);
const itemRaw = (id: number) => Number(built.meta.items[id - 1]!.id);

test('split bounds: k = floor(0.8 n), train targets 11..k, test k+1..n-1 (0-based)', () => {
  assert.deepEqual(splitBounds(20, { historyLength: 10, trainFraction: 0.8 }), { k: 16, trainFrom: 11, trainTo: 17, testFrom: 17, testTo: 20, trainEnd: 17 });
  const b13 = splitBounds(13, { historyLength: 10, trainFraction: 0.8 });
  assert.equal(b13.trainTo - b13.trainFrom, 0);
  assert.deepEqual([b13.testFrom, b13.testTo], [11, 13]);
  const b5 = splitBounds(5, { historyLength: 10, trainFraction: 0.8 });
  assert.equal(b5.trainTo - b5.trainFrom + b5.testTo - b5.testFrom, 0);
});

test('users: only those with samples, in numeric raw-id order', () => {
  assert.deepEqual(built.meta.users, ['3', '7', '12']);
  assert.equal(built.meta.counts.users, 3);
});

test('sequences: stable sort by timestamp, ties keep file order; train_end = k+1', () => {
  const off = Array.from(arr('seq/offsets.npy').data as BigInt64Array, Number);
  assert.deepEqual(off, [0, 13, 33, 44]);
  const items = nums('seq/item.npy').map(itemRaw);
  assert.deepEqual(items.slice(13, 33), seq7);
  assert.deepEqual(items.slice(0, 13), [...Array.from({ length: 12 }, (_, j) => 201 + j), 999]);
  assert.deepEqual(nums('seq/train_end.npy'), [11, 17, 9]);
  assert.deepEqual(nums('seq/rating.npy').slice(13, 33), seq7.map(ratingOf));
  assert.deepEqual(Array.from(arr('seq/ts.npy').data as BigInt64Array, Number).slice(13, 18), [100, 300, 300, 400, 500]);
});

test('train samples: user 7 positions 11..16 with the previous 10 as history', () => {
  assert.deepEqual(nums('train/user.npy'), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(nums('train/pos.npy'), [11, 12, 13, 14, 15, 16]);
  assert.deepEqual(nums('train/item.npy').map(itemRaw), [112, 113, 114, 115, 116, 117]);
  assert.deepEqual(nums('train/label.npy'), [112, 113, 114, 115, 116, 117].map((i) => (ratingOf(i) > 3 ? 1 : 0)));
  assert.deepEqual(arr('train/hist_item.npy').shape, [6, 10]);
  const hist = nums('train/hist_item.npy').map(itemRaw);
  assert.deepEqual(hist.slice(0, 10), [103, 102, 104, 105, 106, 107, 108, 109, 110, 111]);
  assert.deepEqual(hist.slice(50, 60), seq7.slice(6, 16));
  assert.deepEqual(nums('train/hist_rating.npy').slice(0, 10), [103, 102, 104, 105, 106, 107, 108, 109, 110, 111].map(ratingOf));
  const cats = built.meta.categories;
  assert.deepEqual(nums('train/hist_cat.npy').slice(0, 3).map((c) => cats[c - 1]), ['Drama', 'Comedy', 'Comedy']);
  assert.deepEqual(nums('train/cat.npy').slice(0, 2).map((c) => cats[c - 1]), ['Comedy', 'Drama']);
});

test('test samples: k+1..n-1 per user, the last interaction included, short history zero-padded at the end', () => {
  assert.deepEqual(nums('test/user.npy'), [0, 0, 1, 1, 1, 2, 2]);
  assert.deepEqual(nums('test/pos.npy'), [11, 12, 17, 18, 19, 9, 10]);
  assert.deepEqual(nums('test/item.npy').map(itemRaw), [212, 999, 118, 119, 120, 110, 111]);
  const hist = nums('test/hist_item.npy');
  // user 12, position 9: history = positions 0..8 (9 items) then one padding 0.
  assert.deepEqual(hist.slice(50, 60).map((i) => (i === 0 ? 0 : itemRaw(i))), [101, 102, 103, 104, 105, 106, 107, 108, 109, 0]);
  assert.equal(nums('test/hist_rating.npy')[59], 0);
  assert.equal(nums('test/hist_cat.npy')[59], 0);
  assert.equal(built.meta.counts.test, 7);
  assert.equal(built.meta.counts.testPositive, nums('test/label.npy').filter((l) => l === 1).length);
});

test('items: indexed 1..I by raw id over kept users; the entity set is items with a training-part interaction', () => {
  const ids = built.meta.items.map((i) => Number(i.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
  assert.ok(!ids.includes(50), 'item of a dropped user is not indexed');
  assert.equal(built.meta.counts.allItems, 20 + 13);
  const trainOnly = built.meta.items.filter((i) => i.trainCount > 0).map((i) => Number(i.id));
  // user 7 positions 0..16 (101..117), user 3 positions 0..10 (201..211), user 12 positions 0..8 (inside 101..109)
  assert.deepEqual(trainOnly, [...Array.from({ length: 17 }, (_, j) => 101 + j), ...Array.from({ length: 11 }, (_, j) => 201 + j)]);
  assert.equal(built.meta.counts.items, 28);
  assert.equal(built.meta.items.find((i) => i.id === '101')!.trainCount, 2);
  assert.equal(built.meta.items.find((i) => i.id === '999')!.trainCount, 0);
});

test('a different history length moves the first train target', () => {
  const b = buildDataset(rawOf(user7), { historyLength: 5, trainFraction: 0.8 });
  const pos = b.arrays.find((a) => a.name === 'train/pos.npy')!;
  assert.deepEqual(Array.from(pos.data as Int32Array), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  assert.deepEqual(b.arrays.find((a) => a.name === 'train/hist_item.npy')!.shape, [11, 5]);
});
