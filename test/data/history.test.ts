// History helpers on a hand-made sequence set: latest-K training interactions, liking/disliking
// users with ties, and that nothing from a test part is ever returned.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildItemRaterIndex,
  itemSampleUsers,
  latestTrainingInteractions,
  pickRater,
  trainingInteractionCount,
  trainingInteractions,
  type Sequences,
} from '../../core/data/history';

// Three users (items 1..9; ratings 1..5). Training parts: user 0 = first 6, user 1 = first 4,
// user 2 = first 6. Item 9 appears only in test parts.
const users: { items: number[]; ratings: number[]; trainEnd: number }[] = [
  { items: [1, 2, 3, 4, 5, 6, 7, 9], ratings: [5, 1, 4, 2, 5, 3, 5, 5], trainEnd: 6 },
  { items: [3, 1, 8, 2, 9], ratings: [2, 5, 4, 5, 1], trainEnd: 4 },
  { items: [2, 1, 1, 3, 5, 6, 3, 9], ratings: [5, 2, 4, 5, 1, 4, 1, 2], trainEnd: 6 },
];
const offsets = [0];
for (const u of users) offsets.push(offsets.at(-1)! + u.items.length);
const seq: Sequences = {
  offsets: Float64Array.from(offsets),
  item: Int32Array.from(users.flatMap((u) => u.items)),
  rating: Int8Array.from(users.flatMap((u) => u.ratings)),
  trainEnd: Int32Array.from(users.map((u) => u.trainEnd)),
};
const index = buildItemRaterIndex(seq, 9);

test('latest K training interactions: oldest first, never past train_end', () => {
  assert.equal(trainingInteractionCount(seq, 0), 6);
  assert.deepEqual(
    latestTrainingInteractions(seq, 0, 3).map((x) => [x.item, x.rating, x.pos]),
    [
      [4, 2, 3],
      [5, 5, 4],
      [6, 3, 5],
    ],
  );
  assert.deepEqual(latestTrainingInteractions(seq, 1, 10).map((x) => x.item), [3, 1, 8, 2]);
  assert.deepEqual(trainingInteractions(seq, 2).map((x) => x.pos), [0, 1, 2, 3, 4, 5]);
  for (let u = 0; u < 3; u++) assert.ok(!trainingInteractions(seq, u).some((x) => x.item === 9), 'test-part item 9 leaked');
});

test('latest K excluding an item skips every occurrence and still returns K', () => {
  // user 2 training part: 2,1,1,3,5,6 — without item 1 the latest 3 are 3,5,6; the latest 4 are 2,3,5,6
  assert.deepEqual(latestTrainingInteractions(seq, 2, 3, 1).map((x) => x.item), [3, 5, 6]);
  assert.deepEqual(latestTrainingInteractions(seq, 2, 4, 1).map((x) => x.item), [2, 3, 5, 6]);
});

test('rater index keeps each user once per item with their latest training-part rating', () => {
  const raters = (item: number) =>
    Array.from({ length: index.offsets[item + 1]! - index.offsets[item]! }, (_, j) => [index.user[index.offsets[item]! + j]!, index.rating[index.offsets[item]! + j]!]);
  assert.deepEqual(raters(1), [
    [0, 5],
    [1, 5],
    [2, 4],
  ]);
  // user 2 rated item 3 with 5 at position 3 (training) and 1 at position 6 (test part): only the 5 counts.
  assert.deepEqual(raters(3), [
    [0, 4],
    [1, 2],
    [2, 5],
  ]);
  assert.deepEqual(raters(9), [], 'test-part-only item has no raters');
});

test('liking/disliking user: most training interactions, ties to the lowest index', () => {
  // item 1: liked (>3) by users 0 (6 training interactions), 1 (4), 2 (6) → tie 0 vs 2 → user 0.
  assert.equal(pickRater(seq, index, 1, 3, 'liking'), 0);
  assert.equal(pickRater(seq, index, 1, 3, 'disliking'), null);
  // item 2: user 0 rated 1 (dislike), user 1 rated 5, user 2 rated 5 → liking tie? users 1 (4) and 2 (6) → user 2.
  assert.equal(pickRater(seq, index, 2, 3, 'liking'), 2);
  assert.equal(pickRater(seq, index, 2, 3, 'disliking'), 0);
  // item 3: disliking = user 1 (rating 2); user 2's test-part rating 1 must not make them a disliker.
  assert.equal(pickRater(seq, index, 3, 3, 'disliking'), 1);
  assert.equal(pickRater(seq, index, 9, 3, 'liking'), null);
});

test('item sample: both sides with their latest 10 training interactions other than the item', () => {
  const s = itemSampleUsers(seq, index, 2, 3, 10);
  assert.equal(s.liking?.user, 2);
  assert.deepEqual(s.liking?.history.map((x) => x.item), [1, 1, 3, 5, 6]);
  assert.equal(s.disliking?.user, 0);
  assert.deepEqual(s.disliking?.history.map((x) => x.item), [1, 3, 4, 5, 6]);
  const none = itemSampleUsers(seq, index, 8, 3, 10);
  assert.equal(none.disliking, null);
  assert.equal(none.liking?.user, 1);
});
