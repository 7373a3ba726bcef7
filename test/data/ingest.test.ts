// ingest(): content keys, reuse instead of rewrite, the stored dataset read back, and the exact
// counts on the shared MovieLens-1M half.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../../core/data/dataset';
import { latestTrainingInteractions } from '../../core/data/history';
import { ingest } from '../../core/data/ingest';
import { LocalStore, StageOutput, type ArtifactStore } from '../../core/store';
import { sharedPath, skipWithoutShared } from '../helpers/data';
import { makeFixture, mlConfig } from './fixtures';

/** Counts writes, so "reused" means "wrote nothing", not just "said skipped". */
class CountingStore implements ArtifactStore {
  puts = 0;
  constructor(private readonly inner: ArtifactStore) {}
  get description() {
    return this.inner.description;
  }
  exists(k: string) {
    return this.inner.exists(k);
  }
  get(k: string) {
    return this.inner.get(k);
  }
  put(k: string, d: Uint8Array | string) {
    this.puts++;
    return this.inner.put(k, d);
  }
  putFile(k: string, p: string) {
    this.puts++;
    return this.inner.putFile(k, p);
  }
  list(p: string) {
    return this.inner.list(p);
  }
  delete(k: string) {
    return this.inner.delete(k);
  }
  localPath(k: string) {
    return this.inner.localPath(k);
  }
}

test('ingesting the same files twice reuses the stored dataset; the key follows content and config, not the path', async () => {
  const f = makeFixture();
  try {
    const store = new CountingStore(f.store);
    const first = await ingest({ store, dataset: mlConfig(), dir: f.dir, hashCachePath: join(f.root, 'hashes.json') });
    assert.equal(first.skipped, false);
    assert.match(first.key, /^ingest\/[0-9a-f]{24}$/);
    const written = store.puts;
    assert.ok(written > 20, `wrote ${written} objects`);

    const again = await ingest({ store, dataset: mlConfig(), dir: f.dir, hashCachePath: join(f.root, 'hashes.json') });
    assert.equal(again.skipped, true);
    assert.equal(again.key, first.key);
    assert.equal(again.contentHash, first.contentHash);
    assert.deepEqual(again.summary, first.summary);
    assert.equal(store.puts, written, 'second ingest wrote nothing');
    assert.equal(await new StageOutput(store, first.key).contentHash(), first.contentHash);

    // Same bytes elsewhere: same key. Other config slice: another key.
    cpSync(f.dir, join(f.root, 'copy'), { recursive: true });
    assert.equal((await ingest({ store, dataset: mlConfig(), dir: join(f.root, 'copy') })).key, first.key);
    const h5 = await ingest({ store, dataset: mlConfig({ historyLength: 5 }), dir: f.dir });
    assert.notEqual(h5.key, first.key);
    assert.ok(h5.summary.train > first.summary.train);
    // Changed bytes: another key.
    f.write('users.dat', '1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55118\n');
    assert.notEqual((await ingest({ store, dataset: mlConfig(), dir: f.dir })).key, first.key);
  } finally {
    f.cleanup();
  }
});

test('loadDataset: meta and typed arrays agree with the counts; histories come from the training part', async () => {
  const f = makeFixture();
  try {
    const r = await ingest({ store: f.store, dataset: mlConfig(), dir: f.dir });
    const view = await loadDataset(f.store, r.key);
    assert.deepEqual(view.meta.counts.users, r.summary.users);
    const train = await view.samples('train');
    const test_ = await view.samples('test');
    assert.equal(train.n, r.summary.train);
    assert.equal(test_.n, r.summary.test);
    assert.equal(train.label.reduce((a, b) => a + b, 0), r.summary.trainPositive);
    assert.equal(train.histItem.length, train.n * 10);
    const seq = await view.sequences();
    // 25 interactions per user: k = 20, train targets 11..20, test 21..24, train_end 21.
    assert.deepEqual(Array.from(seq.trainEnd), [21, 21, 21]);
    assert.equal(train.n, 3 * 10);
    assert.equal(test_.n, 3 * 4);
    for (let s = 0; s < train.n; s++) assert.ok(train.pos[s]! < seq.trainEnd[train.user[s]!]!, 'train target inside the training part');
    for (let s = 0; s < test_.n; s++) assert.ok(test_.pos[s]! >= seq.trainEnd[test_.user[s]!]!, 'test target outside the training part');
    const latest = latestTrainingInteractions(seq, 0, 10);
    assert.deepEqual(
      latest.map((x) => x.pos),
      Array.from({ length: 10 }, (_, j) => 11 + j),
    );
    assert.equal(view.entityItems().length, r.summary.items);
    assert.equal(view.item(1).id, view.meta.items[0]!.id);
    await assert.rejects(loadDataset(f.store, 'ingest/000000000000000000000000'), /not a complete ingest output/);
  } finally {
    f.cleanup();
  }
});

test('shared MovieLens-1M half: the authors\' split gives exactly the expected counts', { skip: skipWithoutShared('ml-1m') }, async () => {
  const f = makeFixture();
  try {
    const store = new LocalStore(join(f.root, 'store-ml'));
    const r = await ingest({ store, dataset: mlConfig(), dir: sharedPath('ml-1m') });
    assert.deepEqual(r.summary, { users: 2999, items: 3566, train: 358_919, test: 95_742, trainPositive: 208_907, testPositive: 49_773, duplicatesDropped: 0 });
    const view = await loadDataset(store, r.key);
    assert.equal(view.meta.items.find((i) => i.id === '73')?.title, 'Misérables, Les (1995)');
  } finally {
    f.cleanup();
  }
});
