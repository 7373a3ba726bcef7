// What only the S3 store has: configuration, credentials from the standard AWS chain, errors that
// name the endpoint and bucket (never a secret), and the local content-hash cache.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { openStore, StoreError } from '../../core/store';
import { S3Store } from '../../core/store/s3';
import { startTestS3, type TestS3 } from '../helpers/s3';

let s3: TestS3;
before(async () => {
  s3 = await startTestS3();
});
after(() => s3.stop());

const code = (c: StoreError['code']) => (e: unknown) => e instanceof StoreError && e.code === c;

test('store: { kind: s3 } from config opens an S3 store whose credentials come from the AWS environment', async () => {
  await s3.createBucket('from-config');
  const config = R4ecConfigSchema.parse({ store: { kind: 's3', bucket: 'from-config', prefix: 'team/r4ec', endpoint: s3.endpoint } });
  assert.equal(config.store.kind, 's3');
  const saved = { ...process.env };
  Object.assign(process.env, s3.env);
  try {
    const store = openStore(config.store, '/tmp/r4ec-unused-state');
    assert.ok(store instanceof S3Store);
    assert.ok(!store.description.includes(s3.secretAccessKey));
    await store.put('x/y.json', '{}');
    assert.deepEqual(await store.list(''), ['x/y.json']);
    // The prefix is where the keys live in the bucket: a store on the bucket's root sees it.
    const rootView = await s3.store({ bucket: 'from-config' });
    assert.deepEqual(await rootView.list(''), ['team/r4ec/x/y.json']);
  } finally {
    for (const k of Object.keys(s3.env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test('bad credentials: a clear auth error naming the endpoint and bucket, with no secret in it', async () => {
  const good = await s3.store();
  await good.put('k.txt', 'v');
  const wrongSecret = 'wrong-secret-DO-NOT-PRINT-1234567890';
  const bad = new S3Store({ ...good.options, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: wrongSecret } });
  const unknownKey = new S3Store({ ...good.options, credentials: { accessKeyId: 'nobody', secretAccessKey: wrongSecret } });
  for (const store of [bad, unknownKey]) {
    for (const op of [() => store.exists('k.txt'), () => store.get('k.txt'), () => store.put('k2.txt', 'x'), () => store.list(''), () => store.putIfAbsent('k3', 'x')]) {
      const err = await op().then(
        () => assert.fail('a refused request must not succeed'),
        (e: unknown) => e,
      );
      assert.ok(code('auth')(err), `expected an auth StoreError, got ${String(err)}`);
      const message = (err as Error).message;
      assert.ok(message.includes(s3.endpoint), message);
      assert.ok(message.includes(good.options.bucket), message);
      assert.ok(!message.includes(wrongSecret) && !message.includes(s3.secretAccessKey), message);
    }
  }
  assert.equal(await good.exists('k2.txt'), false, 'nothing was written with bad credentials');
});

test('an unreachable endpoint and a missing bucket are named as such', async () => {
  const good = await s3.store();
  const nowhere = new S3Store({ ...good.options, endpoint: 'http://127.0.0.1:9' });
  await assert.rejects(nowhere.exists('k'), (e: unknown) => code('unreachable')(e) && (e as Error).message.includes('http://127.0.0.1:9'));
  const noBucket = new S3Store({ ...good.options, bucket: 'no-such-bucket' });
  await assert.rejects(noBucket.put('k', 'v'), (e: unknown) => code('io')(e) && /bucket "no-such-bucket" does not exist/.test((e as Error).message));
  // A HEAD on a missing bucket is a bare 404: it must not pass for "this artifact does not exist yet".
  await assert.rejects(noBucket.exists('k'), (e: unknown) => code('io')(e) && /bucket "no-such-bucket" does not exist/.test((e as Error).message));
});

test('localPath caches by content: two keys with the same bytes share one download; a deleted cache is refilled', async () => {
  const store = await s3.store();
  await store.put('a/data.npy', 'same bytes');
  await store.put('b/data.npy', 'same bytes');
  const pa = await store.localPath('a/data.npy');
  const pb = await store.localPath('b/data.npy');
  assert.equal(pa, pb);
  assert.ok(pa.startsWith(store.options.cacheDir));
  rmSync(store.options.cacheDir, { recursive: true, force: true });
  const again = await store.localPath('a/data.npy');
  assert.equal(readFileSync(again, 'utf8'), 'same bytes');
});

test('the config refuses a bad bucket, endpoint or prefix with the field and what was expected', () => {
  const bad = (store: unknown) => {
    const r = R4ecConfigSchema.safeParse({ store });
    assert.equal(r.success, false, JSON.stringify(store));
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };
  assert.match(bad({ kind: 's3' }), /store\.bucket/);
  assert.match(bad({ kind: 's3', bucket: 's3://my-bucket' }), /store\.bucket: expected a bucket name .*not a URL or path/);
  assert.match(bad({ kind: 's3', bucket: 'my-bucket/r4ec' }), /store\.bucket: expected a bucket name/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', endpoint: 'localhost:8000' }), /store\.endpoint: expected an http\(s\) URL with a host/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', endpoint: 'ftp://x/y' }), /store\.endpoint/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', prefix: '/abs' }), /store\.prefix/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', prefix: 'a/../b' }), /store\.prefix/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', partSizeMiB: 1 }), /store\.partSizeMiB/);
  assert.match(bad({ kind: 's3', bucket: 'ok-bucket', secretAccessKey: 'x' }), /secretAccessKey|Unrecognized/, 'credentials are not a config field');
  const ok = R4ecConfigSchema.parse({ store: { kind: 's3', bucket: 'ok-bucket', endpoint: 'https://s3.example.com', forcePathStyle: false } });
  assert.deepEqual(ok.store, { kind: 's3', bucket: 'ok-bucket', prefix: '', endpoint: 'https://s3.example.com', region: 'us-east-1', forcePathStyle: false, partSizeMiB: 8, uploadConcurrency: 4 });
});
