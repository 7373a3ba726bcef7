// Imported knowledge files (`{ entityId, texts }` per line, no dataset row): every line is resolved
// against the dataset's ids and checked, with the file, line and field of the first problem; and the
// store-free encoder writes rows in the dataset's order whatever order the file lists entities in.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataError } from '../../core/data/errors';
import { decodeNpy } from '../../core/data/npy';
import type { EncodeDataset } from '../../core/encode/dataset';
import { parseImportedKnowledge } from '../../core/encode/imported';
import type { EntityIndex } from '../../core/encode/knowledge';
import { encodeKnowledgeLocally } from '../../core/encode/local';
import type { TextEncoderLike } from '../../core/encode/shards';

const users: EntityIndex = { domain: 'user', ids: ['u10', 'u11', 'u12'] };
const items: EntityIndex = { domain: 'item', ids: [null, 'i1', 'i2'] };
const jsonl = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function rejectsAt(text: string, index: EntityIndex, line: number, field: string, expected?: RegExp): void {
  assert.throws(
    () => parseImportedKnowledge(text, 'kar/user.jsonl', index),
    (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.equal(e.file, 'kar/user.jsonl');
      assert.equal(e.line, line, e.message);
      assert.equal(e.field, field, e.message);
      if (expected) assert.match(e.message, expected);
      return true;
    },
  );
}

describe('parseImportedKnowledge', () => {
  test('resolves each id to its dataset row, in any order, ignoring fields other producers add', () => {
    const recs = parseImportedKnowledge(jsonl({ entityId: 'u12', texts: ['c'], model: 'gpt' }, { entityId: 'u10', texts: ['a', null] }), 'f', users);
    assert.deepEqual(recs, [
      { entityId: 'u12', index: 2, texts: ['c'] },
      { entityId: 'u10', index: 0, texts: ['a', null] },
    ]);
    const it = parseImportedKnowledge(jsonl({ entityId: 'i2', texts: ['x'], index: 2, kept: [true] }), 'f', items);
    assert.deepEqual(it, [{ entityId: 'i2', index: 2, texts: ['x'], kept: [true] }]);
  });

  test('names the line and field of every kind of bad line', () => {
    const good = { entityId: 'u10', texts: ['a'] };
    rejectsAt(jsonl(good) + '{not json\n', users, 2, '(line)');
    rejectsAt(jsonl(good, { entityId: 'u99', texts: ['b'] }), users, 2, 'entityId', /raw id of a user in the ingested dataset but found "u99"/);
    rejectsAt(jsonl(good, { entityId: 'u11', texts: [] }, { entityId: 'u10', texts: ['again'] }), users, 3, 'entityId', /each user once \(also on line 1\)/);
    rejectsAt(jsonl({ entityId: 'u11', texts: 'a' }), users, 1, 'texts');
    rejectsAt(jsonl({ texts: ['a'] }), users, 1, 'entityId');
    rejectsAt(jsonl({ entityId: 'u11', index: 0, texts: ['a'] }), users, 1, 'index', /1 \(the dataset's row of user "u11"\)/);
    rejectsAt(jsonl({ entityId: 'u11', texts: ['a', 'b'], kept: [true] }), users, 1, 'kept');
    rejectsAt(jsonl({ entityId: 'u11', texts: ['a'], approximated: true }), users, 1, 'texts');
    assert.throws(() => parseImportedKnowledge(jsonl({ entityId: 'i1', texts: [], approximated: true }), 'f', items), /only on user records/);
    // The padding row is no item.
    assert.throws(() => parseImportedKnowledge(jsonl({ entityId: 'null', texts: ['a'] }), 'f', items), /raw id of a item/);
  });
});

describe('encodeKnowledgeLocally', () => {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-local-encode-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('rows follow the dataset, zero rows for entities without usable text, approximated users from their items', async () => {
    // A stub encoder whose vector names its text, so every row can be traced back.
    const codes: Record<string, number> = { a: 1, b: 2, c: 3, x: 10, y: 20 };
    const encoder: TextEncoderLike = { dim: 2, encode: async (texts) => Float32Array.from(texts.flatMap((t) => [codes[t]!, -codes[t]!])) };
    const dataset: EncodeDataset = {
      userIds: ['u10', 'u11', 'u12'],
      itemIds: [null, 'i1', 'i2'],
      userEntities: Uint8Array.from([1, 1, 1]),
      itemEntities: Uint8Array.from([0, 1, 1]),
      trainingItems: (u) => (u === 1 ? Int32Array.from([1, 2]) : Int32Array.from([])),
    };
    const user = parseImportedKnowledge(jsonl({ entityId: 'u12', texts: ['a', 'c'] }, { entityId: 'u11', texts: [], approximated: true }, { entityId: 'u10', texts: ['nan'] }), 'u', users);
    const item = parseImportedKnowledge(jsonl({ entityId: 'i2', texts: ['y'] }, { entityId: 'i1', texts: ['x'] }), 'i', items);
    const counts = await encodeKnowledgeLocally({ dataset, sets: [{ name: 'kar', records: { user, item } }], encoder, outDir: dir });
    const u = decodeNpy(readFileSync(join(dir, 'kar', 'user.npy')), 'user.npy');
    const i = decodeNpy(readFileSync(join(dir, 'kar', 'item.npy')), 'item.npy');
    assert.deepEqual(u.shape, [3, 2]);
    assert.deepEqual(Array.from(u.data as Float32Array), [0, 0, 15, -15, 2, -2]);
    assert.deepEqual(Array.from(i.data as Float32Array), [0, 0, 10, -10, 20, -20]);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'kar', 'item.ids.json'), 'utf8')), [null, 'i1', 'i2']);
    assert.equal(counts.kar!.user.withoutKnowledge, 1);
    assert.equal(counts.kar!.user.approximated, 1);
  });
});
