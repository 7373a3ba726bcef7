// Amazon-Books loader on a small hand-made 2018-format pair of files: k-core, metadata rules,
// label > 4, and bad lines.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DatasetSchema } from '../../config/schema';
import { cleanText, kCore } from '../../core/data/amazon';
import { loadDataset } from '../../core/data/dataset';
import { DataError } from '../../core/data/errors';
import { ingest } from '../../core/data/ingest';
import { InteractionColumns } from '../../core/data/raw';
import { LocalStore } from '../../core/store';

test('k-core: removals cascade to the maximal core', () => {
  // u0: i0,i1  u1: i0,i1  u2: i1,i2  u3: i2. With (2,2): u3 goes, then i2 (1 left), then u2.
  const rows: [number, number][] = [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
    [2, 1],
    [2, 2],
    [3, 2],
  ];
  const cols = new InteractionColumns(4);
  rows.forEach(([u, i], r) => cols.push(u, i, 5, r));
  assert.deepEqual(Array.from(kCore(cols, 4, 3, 2, 2)), [1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(kCore(cols, 4, 3, 1, 1)), [1, 1, 1, 1, 1, 1, 1]);
});

test('title cleaning: entities, typographic quotes, whitespace, 150 characters on a word boundary', () => {
  assert.equal(cleanText('Pride &amp; Prejudice &#8211; “Annotated”\n Edition'), 'Pride & Prejudice – "Annotated" Edition'.replace('–', '-'));
  const long = cleanText(`${'word '.repeat(40)}end`);
  assert.ok(long.length <= 150 && long.endsWith('word'), long);
});

interface Review {
  reviewerID: string;
  asin: string;
  overall?: number | string;
  unixReviewTime: number;
}

function writeAmazon(dir: string, reviews: (Review | string)[], meta: (object | string)[]): void {
  mkdirSync(dir, { recursive: true });
  const lines = (xs: (object | string)[]) => xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') + '\n';
  writeFileSync(join(dir, 'Books_5.json.gz'), gzipSync(lines(reviews)));
  writeFileSync(join(dir, 'meta_Books.json.gz'), gzipSync(lines(meta)));
}

const asin = (i: number) => `B${String(i).padStart(9, '0')}`;

function fixture(): { reviews: Review[]; meta: object[] } {
  const reviews: Review[] = [];
  for (let u = 0; u < 20; u++) {
    for (let j = 0; j < 16; j++) {
      const i = (u + j) % 30;
      reviews.push({ reviewerID: `A${u}`, asin: asin(i), overall: ((u + i) % 5) + 1, unixReviewTime: 1_400_000_000 + j * 86400 + u, ...{ reviewText: 'long text' } });
    }
  }
  // A user below the user core, and a review without a rating (dropped like the authors do).
  for (let j = 0; j < 5; j++) reviews.push({ reviewerID: 'ASPARSE', asin: asin(j), overall: 5, unixReviewTime: 1_500_000_000 + j });
  reviews.push({ reviewerID: 'A1', asin: asin(3), unixReviewTime: 1_600_000_000 });
  const meta: object[] = [];
  for (let i = 0; i < 30; i++) {
    if (i === 29) continue; // no metadata: its interactions are removed after the core
    meta.push({
      asin: asin(i),
      title: i === 0 ? 'Pride &amp; Prejudice' : `Book ${i}`,
      brand: i % 2 ? `Author ${i}` : '',
      category: i === 1 ? ['Books'] : ['Books', i % 3 ? 'Literature &amp; Fiction' : 'Mystery, Thriller & Suspense', 'Genre Fiction'],
      description: ['ignored'],
    });
  }
  meta.push({ asin: 'BNOTREVIEWED', title: 'Never reviewed', brand: 'x', category: ['Books', 'Other'] });
  return { reviews, meta };
}

const amazonConfig = () => DatasetSchema.parse({ kind: 'amazon-books', kCore: { user: 15, item: 3 } });

test('Amazon-Books: core filter, metadata rules, label > 4, reuse', async () => {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-amz-'));
  try {
    const { reviews, meta } = fixture();
    writeAmazon(join(root, 'amz'), reviews, meta);
    const store = new LocalStore(join(root, 'store'));
    const r = await ingest({ store, dataset: amazonConfig(), dir: join(root, 'amz') });
    const view = await loadDataset(store, r.key);
    assert.equal(view.meta.kind, 'amazon-books');
    assert.equal(view.meta.labelThreshold, 4);
    assert.equal(view.meta.users.length, 20);
    assert.ok(!view.meta.users.includes('ASPARSE'), 'user below the core removed');
    assert.ok(!view.meta.items.some((i) => i.id === asin(29)), 'item without metadata removed');
    assert.equal(view.meta.counts.allItems, 29);
    const seq = await view.sequences();
    // Users whose 16 reviews included the item without metadata have 15 interactions left.
    const lengths = Array.from({ length: 20 }, (_, u) => seq.offsets[u + 1]! - seq.offsets[u]!);
    assert.deepEqual([...new Set(lengths)].sort(), [15, 16]);
    const byId = (id: string) => view.meta.items.find((i) => i.id === id)!;
    assert.equal(byId(asin(0)).title, 'Pride & Prejudice');
    assert.equal(byId(asin(0)).brand, 'unknown brand');
    assert.equal(byId(asin(3)).brand, 'Author 3');
    assert.equal(byId(asin(1)).categoryName, 'unknown category');
    assert.equal(byId(asin(2)).categoryName, 'Literature & Fiction');
    assert.equal(byId(asin(3)).categoryName, 'Mystery, Thriller & Suspense');
    const train = await view.samples('train');
    for (let s = 0; s < train.n; s++) assert.equal(train.label[s], train.rating[s]! > 4 ? 1 : 0);
    assert.equal(r.summary.trainPositive, Array.from(train.rating).filter((x) => x === 5).length);
    const again = await ingest({ store, dataset: amazonConfig(), dir: join(root, 'amz') });
    assert.equal(again.skipped, true);
    assert.equal(again.key, r.key);
    // The default (60, 40) core keeps nothing of this tiny set: a clear error, not an empty dataset.
    const strict = DatasetSchema.parse({ kind: 'amazon-books' });
    assert.deepEqual(strict.kCore, { user: 60, item: 40 });
    await assert.rejects(ingest({ store, dataset: strict, dir: join(root, 'amz') }), (e: unknown) => e instanceof DataError && e.field === 'dataset' && /train 0/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Amazon-Books bad lines: broken JSON and a bad rating name file and line', async () => {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-amz-bad-'));
  try {
    const { reviews, meta } = fixture();
    const withBroken: (Review | string)[] = [...reviews];
    withBroken[41] = '{"reviewerID": "A2", "asin": ';
    writeAmazon(join(root, 'a'), withBroken, meta);
    const store = new LocalStore(join(root, 'store'));
    await assert.rejects(ingest({ store, dataset: amazonConfig(), dir: join(root, 'a') }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.file.endsWith('Books_5.json.gz'), true);
      assert.equal(e.line, 42);
      assert.equal(e.field, 'json');
      return true;
    });
    const badRating = [...reviews];
    badRating[9] = { ...badRating[9]!, overall: 6 };
    writeAmazon(join(root, 'b'), badRating, meta);
    await assert.rejects(ingest({ store, dataset: amazonConfig(), dir: join(root, 'b') }), (e: unknown) => e instanceof DataError && e.line === 10 && e.field === 'overall');
    assert.deepEqual(await store.list('ingest/'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
