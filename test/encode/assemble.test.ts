// Entity rows from text vectors: means, zero rows, approximated users, and the counts in the summary.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assembleRows, fillApproximated } from '../../core/encode/assemble';
import type { EncodingPlan } from '../../core/encode/knowledge';

const dim = 2;
const plan = (texts: string[], entities: EncodingPlan['entities']): EncodingPlan => ({
  texts,
  entities,
  stats: { records: entities.length, emptyTexts: 0, filtered: 0, keptNone: 0 },
});
const rowOf = (m: Float32Array, r: number) => Array.from(m.subarray(r * dim, (r + 1) * dim));

test('item rows: mean of chosen texts, zero for no texts, no record, padding and non-entities', () => {
  // rows 0 (padding), 1..4; item 4 is outside the entity set (seen only in test parts)
  const entitySet = Uint8Array.from([0, 1, 1, 1, 0]);
  const vectors = Float32Array.from([1, 0, 0, 1, 3, 3]);
  const items = assembleRows(
    plan(['a', 'b', 'c'], [
      { row: 1, entityId: 'i1', textIds: [0, 1], approximated: false },
      { row: 2, entityId: 'i2', textIds: [], approximated: false },
      { row: 4, entityId: 'i4', textIds: [2], approximated: false },
    ]),
    vectors,
    dim,
    entitySet,
  );
  assert.deepEqual(rowOf(items.matrix, 0), [0, 0]);
  assert.deepEqual(rowOf(items.matrix, 1), [0.5, 0.5]);
  assert.deepEqual(rowOf(items.matrix, 2), [0, 0]);
  assert.deepEqual(rowOf(items.matrix, 3), [0, 0]);
  assert.deepEqual(rowOf(items.matrix, 4), [3, 3]);
  assert.deepEqual(
    { rows: items.counts.rows, entities: items.counts.entities, with: items.counts.withKnowledge, without: items.counts.withoutKnowledge, missing: items.counts.missing },
    { rows: 5, entities: 3, with: 2, without: 2, missing: 1 },
  );
});

test('approximated users: mean of their training items that have knowledge; zero when none has', () => {
  const items = assembleRows(
    plan(['a', 'b'], [
      { row: 1, entityId: 'i1', textIds: [0], approximated: false },
      { row: 2, entityId: 'i2', textIds: [1], approximated: false },
    ]),
    Float32Array.from([2, 0, 0, 4]),
    dim,
    Uint8Array.from([0, 1, 1, 1]),
  );
  const userPlan = plan(['u'], [
    { row: 0, entityId: 'u0', textIds: [0], approximated: false },
    { row: 1, entityId: 'u1', textIds: [], approximated: true },
    { row: 2, entityId: 'u2', textIds: [], approximated: true },
  ]);
  const users = assembleRows(userPlan, Float32Array.from([9, 9]), dim, Uint8Array.from([1, 1, 1]));
  // u1's training part: items 1, 2, 3 (3 has no knowledge: not averaged in), u2's only item 3.
  const history: Record<number, number[]> = { 1: [1, 2, 3, 1], 2: [3] };
  fillApproximated(users, userPlan, items, dim, (u) => history[u]!);
  assert.deepEqual(rowOf(users.matrix, 0), [9, 9]);
  assert.deepEqual(rowOf(users.matrix, 1), [4 / 3, 4 / 3].map(Math.fround));
  assert.deepEqual(rowOf(users.matrix, 2), [0, 0]);
  assert.deepEqual(
    { with: users.counts.withKnowledge, without: users.counts.withoutKnowledge, approx: users.counts.approximated, empty: users.counts.approximatedEmpty },
    { with: 2, without: 1, approx: 2, empty: 1 },
  );
});
