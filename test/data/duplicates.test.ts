// Repeated (user, item, timestamp) lines: an error naming both lines by default, or dropped and
// counted with `dataset.duplicates: drop`, for MovieLens, the synthetic generator's files and
// Amazon-Books. A repeat left in would sit in both train and test, or in its own history.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DatasetSchema } from '../../config/schema';
import { loadDataset } from '../../core/data/dataset';
import { DataError } from '../../core/data/errors';
import { ingest } from '../../core/data/ingest';
import { synthesizeDataset } from '../../core/data/synth';
import { LocalStore } from '../../core/store';
import { makeFixture, mlConfig, ratingLines } from './fixtures';

/** Every (user, item, timestamp) of the stored sequences, as "u:i:t" strings. */
async function storedTriples(store: LocalStore, key: string): Promise<string[]> {
  const view = await loadDataset(store, key);
  const seq = await view.sequences();
  const out: string[] = [];
  for (let u = 0; u + 1 < seq.offsets.length; u++) {
    for (let p = seq.offsets[u]!; p < seq.offsets[u + 1]!; p++) out.push(`${u}:${seq.item[p]}:${seq.ts[p]}`);
  }
  return out;
}

function assertNamesBothLines(e: unknown, file: string, line: number, firstLine: number): true {
  assert.ok(e instanceof DataError, `expected DataError, got ${String(e)}`);
  assert.ok(e.file.endsWith(file), e.file);
  assert.equal(e.line, line);
  assert.ok(e.related?.some((r) => r.file.endsWith(file) && r.line === firstLine), JSON.stringify(e.related));
  assert.ok(e.message.includes(`${file}:${line}`) && e.message.includes(`${file}:${firstLine}`), e.message);
  assert.match(e.suggestion ?? '', /dataset\.duplicates: drop/);
  // Everything survives JSON (what an activity failure carries as its details).
  const json = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
  for (const k of ['file', 'line', 'field', 'expected', 'found', 'related', 'suggestion', 'message']) assert.ok(json[k] !== undefined, `toJSON lacks ${k}`);
  return true;
}

test('MovieLens: a repeated (user, item, timestamp) line is an error naming both lines; nothing stored', async () => {
  const lines = ratingLines();
  // Line 30 repeats line 4 exactly; line 31 repeats line 5's triple with another rating.
  const [u4, i4, , t4] = lines[3]!.split('::');
  const [u5, i5, , t5] = lines[4]!.split('::');
  const withDups = [...lines.slice(0, 29), lines[3]!, `${u5}::${i5}::${lines[4]!.split('::')[2] === '1' ? 2 : 1}::${t5}`, ...lines.slice(29)];
  const f = makeFixture({ ratings: withDups });
  try {
    await assert.rejects(ingest({ store: f.store, dataset: mlConfig(), dir: f.dir }), (e: unknown) => {
      assertNamesBothLines(e, 'ratings.dat', 30, 4);
      assert.ok((e as DataError).found?.includes(`${u4}::${i4}`) && (e as DataError).found?.includes(String(t4)), (e as DataError).found);
      assert.match((e as DataError).suggestion!, /2 repeated lines/);
      return true;
    });
    assert.deepEqual(await f.store.list('ingest/'), [], 'nothing under any ingest key');
  } finally {
    f.cleanup();
  }
});

test('MovieLens with duplicates: drop keeps the first line, counts the rest, and no triple is stored twice', async () => {
  const lines = ratingLines();
  const withDups = [...lines, lines[3]!, lines[3]!, lines[40]!];
  const f = makeFixture({ ratings: withDups });
  const clean = makeFixture();
  try {
    const r = await ingest({ store: f.store, dataset: mlConfig({ duplicates: 'drop' }), dir: f.dir });
    assert.equal(r.summary.duplicatesDropped, 3);
    assert.equal(r.counts.duplicatesDropped, 3);
    const triples = await storedTriples(f.store, r.key);
    assert.equal(new Set(triples).size, triples.length, 'a triple is stored twice');
    // Dropping the repeats gives the dataset of the file without them.
    const c = await ingest({ store: clean.store, dataset: mlConfig({ duplicates: 'drop' }), dir: clean.dir });
    assert.equal(c.summary.duplicatesDropped, 0);
    assert.deepEqual({ ...r.summary, duplicatesDropped: 0 }, c.summary);
    // A reused dataset reports the same count.
    const again = await ingest({ store: f.store, dataset: mlConfig({ duplicates: 'drop' }), dir: f.dir });
    assert.equal(again.skipped, true);
    assert.equal(again.summary.duplicatesDropped, 3);
    // The default is `error`, and the policy is part of the dataset's key.
    assert.equal(DatasetSchema.parse({}).duplicates, 'error');
    await assert.rejects(ingest({ store: f.store, dataset: mlConfig(), dir: f.dir }), DataError);
  } finally {
    f.cleanup();
    clean.cleanup();
  }
});

test('the same item rated again at another time is not a duplicate', async () => {
  const lines = ratingLines();
  const [u, i, r, t] = lines[3]!.split('::');
  const f = makeFixture({ ratings: [...lines, `${u}::${i}::${r}::${Number(t) + 86400}`] });
  try {
    const res = await ingest({ store: f.store, dataset: mlConfig(), dir: f.dir });
    assert.equal(res.summary.duplicatesDropped, 0);
  } finally {
    f.cleanup();
  }
});

test('synthetic generator files: none are repeated; an appended repeat is caught like in MovieLens', async () => {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-dup-synth-'));
  try {
    const dir = join(root, 'syn');
    await synthesizeDataset({ outDir: dir, seed: 3, users: 40, items: 80 });
    const store = new LocalStore(join(root, 'store'));
    const cfg = { ...DatasetSchema.parse({ kind: 'synthetic' }) };
    const ok = await ingest({ store, dataset: cfg, dir });
    assert.equal(ok.summary.duplicatesDropped, 0);
    const lines = readFileSync(join(dir, 'ratings.dat'), 'latin1').trimEnd().split('\n');
    appendFileSync(join(dir, 'ratings.dat'), `${lines[9]}\n`);
    await assert.rejects(ingest({ store, dataset: cfg, dir }), (e: unknown) => assertNamesBothLines(e, 'ratings.dat', lines.length + 1, 10));
    const dropped = await ingest({ store, dataset: { ...cfg, duplicates: 'drop' }, dir });
    assert.equal(dropped.summary.duplicatesDropped, 1);
    assert.deepEqual({ ...dropped.summary, duplicatesDropped: 0 }, ok.summary);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('Amazon-Books: a repeated (reviewerID, asin, unixReviewTime) review is an error naming both lines, or dropped before the k-core', async () => {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-dup-amz-'));
  try {
    const asin = (i: number) => `B${String(i).padStart(9, '0')}`;
    const reviews: object[] = [];
    for (let u = 0; u < 12; u++) for (let j = 0; j < 14; j++) reviews.push({ reviewerID: `A${u}`, asin: asin((u + j) % 20), overall: ((u + j) % 5) + 1, unixReviewTime: 1_400_000_000 + j * 86400 + u });
    // A user with 3 distinct reviews repeated: the repeats would lift them over a 4-core.
    const sparse = [0, 1, 2].map((j) => ({ reviewerID: 'AREPEAT', asin: asin(j), overall: 5, unixReviewTime: 1_500_000_000 + j }));
    const all = [...reviews, ...sparse, sparse[0], sparse[1]];
    const meta = Array.from({ length: 20 }, (_, i) => ({ asin: asin(i), title: `Book ${i}`, brand: `Author ${i}`, category: ['Books', 'Fiction'] }));
    const dir = join(root, 'amz');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Books_5.json.gz'), gzipSync(all.map((x) => JSON.stringify(x)).join('\n') + '\n'));
    writeFileSync(join(dir, 'meta_Books.json.gz'), gzipSync(meta.map((x) => JSON.stringify(x)).join('\n') + '\n'));
    const store = new LocalStore(join(root, 'store'));
    const cfg = DatasetSchema.parse({ kind: 'amazon-books', kCore: { user: 4, item: 3 } });
    const first = reviews.length + 1;
    await assert.rejects(ingest({ store, dataset: cfg, dir }), (e: unknown) => {
      assertNamesBothLines(e, 'Books_5.json.gz', all.length - 1, first);
      assert.equal((e as DataError).field, 'reviewerID/asin/unixReviewTime');
      return true;
    });
    const r = await ingest({ store, dataset: { ...cfg, duplicates: 'drop' }, dir });
    assert.equal(r.summary.duplicatesDropped, 2);
    const view = await loadDataset(store, r.key);
    assert.ok(!view.meta.users.includes('AREPEAT'), 'repeats must not count towards the user core');
    const triples = await storedTriples(store, r.key);
    assert.equal(new Set(triples).size, triples.length);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
