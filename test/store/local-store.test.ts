import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { LocalStore, StageOutput, StoreError, stageKey } from '../../core/store';

const dirs: string[] = [];
const freshStore = () => {
  const d = mkdtempSync(join(tmpdir(), 'r4ec-store-'));
  dirs.push(d);
  return new LocalStore(d);
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('put/get/exists/list/delete round-trip', async () => {
  const s = freshStore();
  assert.equal(await s.exists('a/b.txt'), false);
  await s.put('a/b.txt', 'one');
  await s.put('a/c/d.bin', new Uint8Array([1, 2, 3]));
  await s.put('z.txt', 'z');
  assert.equal((await s.get('a/b.txt')).toString(), 'one');
  assert.deepEqual([...(await s.get('a/c/d.bin'))], [1, 2, 3]);
  assert.deepEqual(await s.list('a/'), ['a/b.txt', 'a/c/d.bin']);
  assert.deepEqual(await s.list(''), ['a/b.txt', 'a/c/d.bin', 'z.txt']);
  await s.put('a/b.txt', 'two');
  assert.equal((await s.get('a/b.txt')).toString(), 'two');
  await s.delete('a/b.txt');
  await assert.rejects(s.get('a/b.txt'), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
});

test('keys that escape the store or are malformed are refused', async () => {
  const s = freshStore();
  for (const bad of ['', '/abs', 'a/../b', 'a//b', '.tmp/x', 'a/./b']) {
    await assert.rejects(s.put(bad, 'x'), (e: unknown) => e instanceof StoreError && e.code === 'bad_key', bad);
  }
});

test('stage keys change with every part of (stage, code version, config slice, inputs) and nothing else', () => {
  const base = { stage: 'ingest', codeVersion: '1', config: { a: 1, b: [1, 2] }, inputs: ['h1'] };
  const k = stageKey(base);
  assert.match(k, /^ingest\/[0-9a-f]{24}$/);
  assert.equal(stageKey({ ...base, config: { b: [1, 2], a: 1 } }), k, 'key order does not matter');
  assert.notEqual(stageKey({ ...base, codeVersion: '2' }), k);
  assert.notEqual(stageKey({ ...base, config: { a: 2, b: [1, 2] } }), k);
  assert.notEqual(stageKey({ ...base, inputs: ['h2'] }), k);
  assert.notEqual(stageKey({ ...base, stage: 'train' }), k);
});

test('a stage output exists only once committed; its content hash follows its files', async () => {
  const s = freshStore();
  const out = new StageOutput(s, 'train/abc');
  await out.put('x.json', '{"a":1}');
  assert.equal(await out.isComplete(), false);
  const h1 = await out.commit('train', { note: 'first' });
  assert.equal(await out.isComplete(), true);
  assert.equal(await out.contentHash(), h1);
  const other = new StageOutput(s, 'train/def');
  await other.put('x.json', '{"a":2}');
  assert.notEqual(await other.commit('train'), h1);
  assert.equal((await out.manifest()).meta.note, 'first');
});

test('a writer killed mid-write leaves nothing under the final key', async () => {
  const s = freshStore();
  const fifo = join(s.root, 'feed.fifo');
  execFileSync('mkfifo', [fifo]);
  // The child streams from a FIFO into the store; we feed half and SIGKILL it.
  const script = `const { LocalStore } = require(${JSON.stringify(resolve(__dirname, '../../core/store/local.ts'))});
    new LocalStore(${JSON.stringify(s.root)}).putFile('big/object.bin', ${JSON.stringify(fifo)}).then(() => console.log('finished'));`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fd = openSync(fifo, 'w');
  const chunk = Buffer.alloc(1 << 20, 7);
  for (let i = 0; i < 8; i++) writeSync(fd, chunk);
  // Wait until the temp file has data, then kill the writer before the rename.
  for (let i = 0; i < 100; i++) {
    const tmp = readdirSync(join(s.root, '.tmp'), { withFileTypes: true });
    if (tmp.length > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  try {
    closeSync(fd);
  } catch {
    /* reader gone */
  }
  assert.equal(await s.exists('big/object.bin'), false);
  assert.deepEqual(await s.list('big/'), []);
  // The store still works and a later write lands whole.
  await s.put('big/object.bin', chunk);
  assert.equal((await s.get('big/object.bin')).length, chunk.length);
});
