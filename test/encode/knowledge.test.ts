// Knowledge-set files (refine → encode): validation with exact locations, and which texts each
// entity's vector averages (filter strategy, NaN/empty samples, approximated users).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataError } from '../../core/data/errors';
import { isUsableText, parseKnowledgeFile, planEncoding, type EntityIndex } from '../../core/encode/knowledge';

const users: EntityIndex = { domain: 'user', ids: ['u10', 'u11', 'u12'] };
const items: EntityIndex = { domain: 'item', ids: [null, 'i1', 'i2'] };
const jsonl = (...recs: unknown[]) => recs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function rejectsAt(text: string, index: EntityIndex, line: number, field: string): void {
  assert.throws(
    () => parseKnowledgeFile(text, 'r4ec/user.jsonl', index),
    (e: unknown) => {
      assert.ok(e instanceof DataError, String(e));
      assert.equal(e.file, 'r4ec/user.jsonl');
      assert.equal(e.line, line, e.message);
      assert.equal(e.field, field, e.message);
      return true;
    },
  );
}

describe('parseKnowledgeFile', () => {
  test('reads records, skipping blank lines', () => {
    const recs = parseKnowledgeFile(jsonl({ entityId: 'u10', index: 0, texts: ['a'] }) + '\n' + jsonl({ entityId: 'u12', index: 2, texts: [] }), 'f', users);
    assert.deepEqual(recs.map((r) => r.index), [0, 2]);
  });

  test('names the line and field of every kind of bad record', () => {
    const good = { entityId: 'u10', index: 0, texts: ['a'] };
    rejectsAt(jsonl(good) + '{not json\n', users, 2, '(line)');
    rejectsAt(jsonl(good, { entityId: 'u11', index: 1, texts: 'a' }), users, 2, 'texts');
    rejectsAt(jsonl({ entityId: 'u11', index: 1.5, texts: [] }), users, 1, 'index');
    rejectsAt(jsonl({ entityId: 'u11', index: 3, texts: [] }), users, 1, 'index');
    rejectsAt(jsonl({ entityId: 'u12', index: 1, texts: [] }), users, 1, 'entityId');
    rejectsAt(jsonl(good, { entityId: 'u11', index: 1, texts: [] }, good), users, 3, 'index');
    rejectsAt(jsonl({ entityId: 'u11', index: 1, texts: ['a', 'b'], kept: [true] }), users, 1, 'kept');
    rejectsAt(jsonl({ entityId: 'u11', index: 1, texts: [], extra: 1 }), users, 1, '(record)');
    rejectsAt(jsonl({ entityId: 'u11', index: 1, texts: ['knowledge'], approximated: true }), users, 1, 'texts');
    rejectsAt(jsonl({ entityId: 'i1', index: 0, texts: [] }), items, 1, 'index');
    rejectsAt(jsonl({ entityId: 'i1', index: 1, texts: [], approximated: true }), items, 1, 'approximated');
  });
});

describe('planEncoding', () => {
  test('NaN, null and blank samples are not knowledge; an entity with none gets no texts', () => {
    assert.deepEqual(['NaN', 'nan', ' ', '', null, 'None'].map(isUsableText), [false, false, false, false, false, false]);
    assert.ok(isUsableText('Nancy likes films'));
    const plan = planEncoding(
      parseKnowledgeFile(
        jsonl({ entityId: 'u10', index: 0, texts: ['NaN', 'likes drama', null] }, { entityId: 'u11', index: 1, texts: ['', 'nan'] }),
        'f',
        users,
      ),
    );
    assert.deepEqual(plan.texts, ['likes drama']);
    assert.deepEqual(plan.entities.map((e) => e.textIds), [[0], []]);
    assert.equal(plan.stats.emptyTexts, 4);
  });

  test('filter strategy: the kept samples, or all usable ones when none is kept', () => {
    const plan = planEncoding(
      parseKnowledgeFile(
        jsonl(
          { entityId: 'u10', index: 0, texts: ['a', 'b', 'c'], kept: [true, false, true] },
          { entityId: 'u11', index: 1, texts: ['d', 'NaN', 'e'], kept: [false, true, false] },
          { entityId: 'u12', index: 2, texts: ['a', 'f'], kept: [true, true] },
        ),
        'f',
        users,
      ),
    );
    const textsOf = (i: number) => plan.entities[i]!.textIds.map((t) => plan.texts[t]);
    assert.deepEqual(textsOf(0), ['a', 'c']);
    // u11 kept only a NaN sample: nothing usable kept, so all usable samples count.
    assert.deepEqual(textsOf(1), ['d', 'e']);
    assert.deepEqual(textsOf(2), ['a', 'f']);
    // Identical texts are encoded once.
    assert.deepEqual(plan.texts, ['a', 'c', 'd', 'e', 'f']);
    assert.deepEqual({ filtered: plan.stats.filtered, keptNone: plan.stats.keptNone }, { filtered: 1, keptNone: 1 });
  });

  test('approximated users carry no texts', () => {
    const plan = planEncoding(parseKnowledgeFile(jsonl({ entityId: 'u11', index: 1, texts: [], approximated: true }), 'f', users));
    assert.deepEqual(plan.entities, [{ row: 1, entityId: 'u11', textIds: [], approximated: true }]);
    assert.equal(plan.texts.length, 0);
  });
});
