// The ArtifactStore contract, run against every backend: the local directory and the S3 store on a
// real S3-compatible server (versitygw). One suite, parametrised; a backend that differs fails here.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { LocalStore, StageOutput, StoreError, type ArtifactStore } from '../../core/store';
import type { S3Store } from '../../core/store/s3';
import { startTestS3, type TestS3 } from '../helpers/s3';

const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), 'r4ec-contract-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A file of `mib` MiB of incompressible bytes (a random 1 MiB block, each copy stamped with its index). */
function bigFile(name: string, mib: number): { path: string; sha256: string; bytes: number } {
  const path = join(work, name);
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0);
    writeSync(fd, block);
    hash.update(block);
  }
  closeSync(fd);
  return { path, sha256: hash.digest('hex'), bytes: mib * MiB };
}

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const notFound = (e: unknown) => e instanceof StoreError && e.code === 'not_found';

interface Backend {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A fresh, empty store; `small` parts make multipart uploads of a few MiB. */
  fresh(opts?: { small?: boolean }): Promise<ArtifactStore>;
  /** Evidence that an upload into `store` has started and is not yet visible. */
  uploadInProgress(store: ArtifactStore): Promise<boolean>;
  /** A Node script fragment that builds the same store in a child process (`store` variable). */
  childStore(store: ArtifactStore): { code: string; env: Record<string, string> };
}

const storeModule = JSON.stringify(resolve(__dirname, '../../core/store/index.ts'));

const local: Backend = {
  name: 'local',
  async setup() {},
  async teardown() {},
  async fresh() {
    return new LocalStore(mkdtempSync(join(work, 'local-')));
  },
  async uploadInProgress(store) {
    try {
      return (await readdir(join((store as LocalStore).root, '.tmp'))).length > 0;
    } catch {
      return false;
    }
  },
  childStore(store) {
    return { code: `const store = require(${storeModule}).openStore({ kind: 'local', path: ${JSON.stringify((store as LocalStore).root)} }, '/nonexistent');`, env: {} };
  },
};

let s3: TestS3 | undefined;
const s3Backend: Backend = {
  name: 's3 (versitygw)',
  async setup() {
    s3 = await startTestS3();
  },
  async teardown() {
    await s3?.stop();
  },
  async fresh(opts = {}) {
    return s3!.store(opts.small ? { partSizeMiB: 5, concurrency: 1 } : {});
  },
  async uploadInProgress(store) {
    const s = store as S3Store;
    const r = await s.client.send(new ListMultipartUploadsCommand({ Bucket: s.options.bucket }));
    return (r.Uploads ?? []).length > 0;
  },
  childStore(store) {
    const o = (store as S3Store).options;
    // The child gets its credentials the way a worker does: from the standard AWS environment.
    const config = { kind: 's3', bucket: o.bucket, prefix: '', endpoint: o.endpoint, region: o.region, partSizeMiB: o.partSizeMiB ?? 8, uploadConcurrency: o.concurrency ?? 4 };
    return { code: `const store = require(${storeModule}).openStore(${JSON.stringify(config)}, ${JSON.stringify(join(work, 'child-state'))});`, env: s3!.env };
  },
};

for (const backend of [local, s3Backend]) {
  describe(`ArtifactStore contract: ${backend.name}`, () => {
    before(() => backend.setup());
    after(() => backend.teardown());

    test('put/get/exists/stat/getStream/delete round-trip; a missing key is not_found everywhere', async () => {
      const s = await backend.fresh();
      assert.equal(await s.exists('a/b.txt'), false);
      assert.equal(await s.stat('a/b.txt'), undefined);
      await s.put('a/b.txt', 'one');
      await s.put('a/c/d.bin', new Uint8Array([1, 2, 3]));
      assert.equal(await s.exists('a/b.txt'), true);
      assert.equal((await s.get('a/b.txt')).toString(), 'one');
      assert.deepEqual([...(await s.get('a/c/d.bin'))], [1, 2, 3]);
      assert.deepEqual(await s.stat('a/c/d.bin'), { bytes: 3, sha256: sha(new Uint8Array([1, 2, 3])) });
      const chunks: Buffer[] = [];
      for await (const c of await s.getStream('a/b.txt')) chunks.push(c as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), 'one');
      await s.put('a/b.txt', 'two');
      assert.equal((await s.get('a/b.txt')).toString(), 'two');
      assert.equal((await s.stat('a/b.txt'))?.sha256, sha('two'));
      await s.delete('a/b.txt');
      await s.delete('a/b.txt'); // deleting what is gone is not an error
      assert.equal(await s.exists('a/b.txt'), false);
      await assert.rejects(s.get('a/b.txt'), notFound);
      await assert.rejects(s.getStream('a/b.txt'), notFound);
      await assert.rejects(s.localPath('a/b.txt'), notFound);
      await assert.rejects(s.localDir('nothing/here'), notFound);
    });

    test('malformed keys are refused before any I/O', async () => {
      const s = await backend.fresh();
      for (const bad of ['', '/abs', 'a/../b', 'a//b', '.tmp/x', 'a/./b']) {
        await assert.rejects(s.put(bad, 'x'), (e: unknown) => e instanceof StoreError && e.code === 'bad_key', bad);
        await assert.rejects(s.putIfAbsent(bad, 'x'), (e: unknown) => e instanceof StoreError && e.code === 'bad_key', bad);
      }
    });

    test('list is a sorted string-prefix listing; listPage pages through it exactly', async () => {
      const s = await backend.fresh();
      const keys = ['a/b/c', 'a/b/d/e', 'a/bc/x', 'a/z', 'b/1', 'ab/q'];
      for (let i = 0; i < 23; i++) keys.push(`p/${String(i).padStart(3, '0')}.json`);
      await Promise.all(keys.map((k) => s.put(k, k)));
      assert.deepEqual(await s.list('a/b/'), ['a/b/c', 'a/b/d/e']);
      assert.deepEqual(await s.list('a/b'), ['a/b/c', 'a/b/d/e', 'a/bc/x'], 'a prefix is a string prefix, not a directory');
      assert.deepEqual(await s.list('a'), ['a/b/c', 'a/b/d/e', 'a/bc/x', 'a/z', 'ab/q']);
      assert.deepEqual(await s.list(''), [...keys].sort());
      assert.deepEqual(await s.list('nope/'), []);
      const all = await s.list('p/');
      assert.equal(all.length, 23);
      const paged: string[] = [];
      let startAfter: string | undefined;
      let pages = 0;
      do {
        const page = await s.listPage('p/', { limit: 7, ...(startAfter !== undefined ? { startAfter } : {}) });
        assert.ok(page.keys.length <= 7);
        paged.push(...page.keys);
        startAfter = page.next;
        pages++;
      } while (startAfter !== undefined);
      assert.deepEqual(paged, all);
      assert.equal(pages, 4);
      assert.deepEqual((await s.listPage('p/', { startAfter: 'p/020.json' })).keys, ['p/021.json', 'p/022.json']);
      assert.deepEqual(await s.listPage('p/', { startAfter: 'p/022.json' }), { keys: [], next: undefined });
    });

    test('putIfAbsent: of 24 concurrent creators exactly one wins, and the object is its bytes', async () => {
      const s = await backend.fresh();
      for (let round = 0; round < 4; round++) {
        const key = `bookings/run/${round}.json`;
        const results = await Promise.all(Array.from({ length: 24 }, (_, i) => s.putIfAbsent(key, JSON.stringify({ creator: i, pad: 'x'.repeat(2000) }))));
        const winners = results.flatMap((won, i) => (won ? [i] : []));
        assert.equal(winners.length, 1, `round ${round}: winners ${JSON.stringify(winners)}`);
        assert.equal((JSON.parse((await s.get(key)).toString()) as { creator: number }).creator, winners[0]);
        assert.equal(await s.putIfAbsent(key, 'late'), false);
      }
      assert.deepEqual(await s.list('bookings/'), ['bookings/run/0.json', 'bookings/run/1.json', 'bookings/run/2.json', 'bookings/run/3.json']);
    });

    test('putIfAbsent across processes: 4 processes × 6 creators, one winner per key', async () => {
      const s = await backend.fresh();
      const child = backend.childStore(s);
      const script = `${child.code}
        const id = process.argv[1];
        Promise.all(Array.from({ length: 6 }, (_, i) => store.putIfAbsent('lease/k', id + '-' + i).then((won) => (won ? id + '-' + i : null))))
          .then((r) => { process.stdout.write(JSON.stringify(r.filter(Boolean))); }, (e) => { console.error(e); process.exit(1); });`;
      const outputs = await Promise.all(
        ['p0', 'p1', 'p2', 'p3'].map(
          (id) =>
            new Promise<string[]>((res, rej) => {
              const c = spawn(process.execPath, ['--import', 'tsx', '-e', script, id], { env: { ...process.env, ...child.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, stdio: ['ignore', 'pipe', 'inherit'] });
              let out = '';
              c.stdout.on('data', (d: Buffer) => (out += d.toString()));
              c.once('exit', (code) => (code === 0 ? res(JSON.parse(out) as string[]) : rej(new Error(`child ${id} exited ${code}`))));
            }),
        ),
      );
      const winners = outputs.flat();
      assert.equal(winners.length, 1, JSON.stringify(outputs));
      assert.equal((await s.get('lease/k')).toString(), winners[0]);
    });

    test('a concurrent reader never sees a partial object while a large file is uploaded over an old one', async (t) => {
      const s = await backend.fresh({ small: true });
      const f = bigFile(`visible-${backend.name.slice(0, 2)}.bin`, 24);
      await s.put('big/obj.bin', 'old');
      const seen = new Set<string>();
      let done = false;
      const writer = s.putFile('big/obj.bin', f.path).finally(() => (done = true));
      let reads = 0;
      while (!done) {
        const st = await s.stat('big/obj.bin');
        assert.ok(st, 'the old object must stay visible until the new one is complete');
        assert.ok(st.bytes === 3 || st.bytes === f.bytes, `size ${st.bytes}`);
        const body = await s.get('big/obj.bin');
        const h = sha(body);
        assert.ok(h === sha('old') || h === f.sha256, `read ${body.length} bytes hashing to neither version`);
        seen.add(h === f.sha256 ? 'new' : 'old');
        const listed = await s.list('big/');
        assert.deepEqual(listed, ['big/obj.bin'], 'no temp or part object is ever listed');
        reads++;
      }
      await writer;
      t.diagnostic(`${reads} reads during the upload`);
      assert.ok(reads > 0);
      assert.ok(seen.has('old'), 'the reader ran while the upload was in progress');
      assert.equal((await s.stat('big/obj.bin'))?.sha256, f.sha256);
    });

    test('a writer killed mid-upload leaves nothing under the final key', async () => {
      const s = await backend.fresh({ small: true });
      const f = bigFile(`killed-${backend.name.slice(0, 2)}.bin`, 64);
      // The local copy is too fast to catch in the act: it reads a FIFO we feed and never close.
      // The S3 upload (5 MiB parts, one at a time) is slow enough to read from the file itself.
      const fifo = backend === local ? join(work, 'feed.fifo') : undefined;
      if (fifo) execFileSync('mkfifo', [fifo]);
      const child = backend.childStore(s);
      const script = `${child.code}
        store.putFile('big/killed.bin', ${JSON.stringify(fifo ?? f.path)}).then(() => console.log('finished'));`;
      const c = spawn(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, ...child.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => c.once('exit', r));
      let fd: number | undefined;
      if (fifo) {
        fd = openSync(fifo, 'w');
        writeSync(fd, readFileSync(f.path).subarray(0, 8 * MiB));
      }
      let started = false;
      for (let i = 0; i < 600 && !started && c.exitCode === null; i++) {
        started = await backend.uploadInProgress(s);
        if (!started) await new Promise((r) => setTimeout(r, 20));
      }
      c.kill('SIGKILL');
      await exited;
      if (fd !== undefined) closeSync(fd);
      if (fifo) rmSync(fifo);
      assert.ok(started, 'the upload was seen in progress before the kill');
      assert.ok(!out.includes('finished'), 'the writer was killed before it finished');
      assert.equal(await s.exists('big/killed.bin'), false);
      assert.deepEqual(await s.list(''), []);
      await s.putFile('big/killed.bin', f.path);
      assert.equal((await s.stat('big/killed.bin'))?.sha256, f.sha256, 'a later write lands whole');
    });

    test('a 200 MB file streams in and out without being held in memory', async (t) => {
      const s = await backend.fresh();
      const f = bigFile(`stream-${backend.name.slice(0, 2)}.bin`, 200);
      global.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      try {
        await s.putFile('big/200.bin', f.path);
        const hash = createHash('sha256');
        await pipeline(await s.getStream('big/200.bin'), hash);
        assert.equal(hash.digest('hex'), f.sha256);
        const p = await s.localPath('big/200.bin');
        assert.equal(statSync(p).size, f.bytes);
      } finally {
        clearInterval(timer);
      }
      const growthMiB = (peak - base) / MiB;
      t.diagnostic(`RSS growth ${growthMiB.toFixed(0)} MiB`);
      assert.ok(growthMiB < 100, `RSS grew by ${growthMiB.toFixed(0)} MiB for a 200 MiB file`);
      assert.deepEqual(await s.stat('big/200.bin'), { bytes: f.bytes, sha256: f.sha256 });
    });

    test('localPath and localDir give files with the object bytes, and follow a new version', async () => {
      const s = await backend.fresh();
      await s.put('m/adapter/adapter_config.json', '{"r":8}');
      await s.put('m/adapter/weights/a.bin', new Uint8Array([9, 9, 9]));
      const p1 = await s.localPath('m/adapter/adapter_config.json');
      assert.equal(readFileSync(p1, 'utf8'), '{"r":8}');
      assert.match(p1, /adapter_config\.json$/, 'the file name is kept');
      assert.equal(await s.localPath('m/adapter/adapter_config.json'), p1, 'a second call returns the same copy');
      const dir = await s.localDir('m/adapter');
      assert.equal(readFileSync(join(dir, 'adapter_config.json'), 'utf8'), '{"r":8}');
      assert.deepEqual([...readFileSync(join(dir, 'weights', 'a.bin'))], [9, 9, 9]);
      await s.put('m/adapter/adapter_config.json', '{"r":16}');
      assert.equal(readFileSync(await s.localPath('m/adapter/adapter_config.json'), 'utf8'), '{"r":16}');
      assert.equal(readFileSync(join(await s.localDir('m/adapter/'), 'adapter_config.json'), 'utf8'), '{"r":16}');
    });

    test('a stage output is complete only once committed; the content hash is the same on every backend', async () => {
      const s = await backend.fresh();
      const out = new StageOutput(s, 'train/abc');
      await out.put('x.json', '{"a":1}');
      const f = bigFile(`stage-${backend.name.slice(0, 2)}.bin`, 1);
      await out.putFile('model.bin', f.path);
      assert.equal(await out.isComplete(), false);
      const h = await out.commit('train', { note: 'first' });
      assert.equal(await out.isComplete(), true);
      assert.equal(await out.contentHash(), h);
      const again = new StageOutput(await backend.fresh(), 'train/abc');
      await again.put('x.json', '{"a":1}');
      await again.putFile('model.bin', f.path);
      assert.equal(await again.commit('train'), h, 'same files, same hash');
    });
  });
}
