// Imported knowledge directories (core/encode/import-dir.ts) over a real store and a real ingested
// dataset: the layout DIR/<set>/<domain>.jsonl is enforced with the path named, the content hash
// follows the files' content only, every line is checked before anything is written, and the
// refine-format output is keyed by content (the same files are reused, changed ones refused).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DataError } from '../../core/data/errors';
import { loadEncodeDataset } from '../../core/encode/dataset';
import { importKnowledgeDir, scanKnowledgeDir } from '../../core/encode/import-dir';
import { LocalStore } from '../../core/store';
import { ingestSynthetic, type IngestedSynthetic } from '../helpers/dataset';

const root = mkdtempSync(join(tmpdir(), 'r4ec-import-dir-'));
after(() => rmSync(root, { recursive: true, force: true }));
const store = new LocalStore(join(root, 'store'));
let data: IngestedSynthetic;
let users: string[];
let items: string[];
before(async () => {
  data = await ingestSynthetic(store, { users: 15, items: 60, seed: 5 });
  const ds = await loadEncodeDataset(store, data.ingest.key, { sequences: false });
  users = ds.userIds;
  items = ds.itemIds.slice(1) as string[];
});

let n = 0;
function dir(files: Record<string, string>): string {
  const d = join(root, `k${n++}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}
const jsonl = (rs: object[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';
const goodFiles = () => ({
  'kar/user.jsonl': jsonl([...users].reverse().map((id) => ({ entityId: id, texts: [`user ${id}`] }))),
  'kar/item.jsonl': jsonl(items.map((id) => ({ entityId: id, texts: [`item ${id}`] }))),
});

async function rejects(p: Promise<unknown>, file: string, line: number, field: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.equal(e.file, file);
    assert.equal(e.line, line);
    assert.equal(e.field, field);
    return true;
  });
}

test('layout: sets and domains by name, both domains required, other directories refused, files beside the sets ignored', async () => {
  const ok = dir({ ...goodFiles(), 'README.md': 'notes' });
  const s = await scanKnowledgeDir(ok);
  assert.deepEqual(s.sets, ['kar']);
  const missing = dir({ 'r4ec/user.jsonl': '' });
  await rejects(scanKnowledgeDir(missing), join(missing, 'r4ec', 'item.jsonl'), 0, '(file)');
  const stray = dir({ ...goodFiles(), 'kar/users.jsonl': '' });
  await rejects(scanKnowledgeDir(stray), join(stray, 'kar', 'users.jsonl'), 0, '(file)');
  const unknown = dir({ ...goodFiles(), 'oracle/user.jsonl': '' });
  await rejects(scanKnowledgeDir(unknown), join(unknown, 'oracle'), 0, '(directory)');
  await rejects(scanKnowledgeDir(join(root, 'nowhere')), join(root, 'nowhere'), 0, '(directory)');
});

test('the content hash follows the files, not their place or what lies beside them', async () => {
  const a = await scanKnowledgeDir(dir(goodFiles()));
  const b = await scanKnowledgeDir(dir({ ...goodFiles(), 'notes.txt': 'x' }));
  assert.equal(a.contentHash, b.contentHash);
  const c = await scanKnowledgeDir(dir({ ...goodFiles(), 'kar/item.jsonl': jsonl(items.map((id) => ({ entityId: id, texts: ['other'] }))) }));
  assert.notEqual(a.contentHash, c.contentHash);
});

test('every line is checked before anything is written: bad JSON, an unknown id, a repeated id', async () => {
  const cases: Array<[string, number, string]> = [
    ['{"entityId": "x", "texts": [', 1, '(line)'],
    [jsonl([{ entityId: items[0], texts: ['a'] }, { entityId: 'nope', texts: ['b'] }]), 2, 'entityId'],
    [jsonl([{ entityId: items[0], texts: ['a'] }, { entityId: items[1], texts: ['b'] }, { entityId: items[0], texts: ['c'] }]), 3, 'entityId'],
    [jsonl([{ entityId: items[0], texts: 'a' }]), 1, 'texts'],
  ];
  for (const [text, line, field] of cases) {
    const d = dir({ ...goodFiles(), 'kar/item.jsonl': text });
    const scan = await scanKnowledgeDir(d);
    await rejects(importKnowledgeDir(store, { expected: scan, ingest: data.ingest }), join(d, 'kar', 'item.jsonl'), line, field);
  }
  assert.deepEqual(await store.list('refine/'), [], 'nothing written');
});

test('a good directory becomes a refine-format output keyed by content: rows resolved and sorted, reused for the same files, refused when they changed', async () => {
  const d = dir(goodFiles());
  const scan = await scanKnowledgeDir(d);
  const first = await importKnowledgeDir(store, { expected: scan, ingest: data.ingest });
  assert.equal(first.reused, false);
  assert.deepEqual(first.counts.records, { kar: { user: users.length, item: items.length } });
  const rows = (await store.get(`${first.key}/kar/user.jsonl`)).toString().trim().split('\n').map((l) => JSON.parse(l) as { entityId: string; index: number; texts: string[] });
  assert.deepEqual(rows.map((r) => r.index), users.map((_, k) => k));
  assert.deepEqual(rows.map((r) => r.entityId), users);
  assert.deepEqual(rows[0]!.texts, [`user ${users[0]}`]);

  const again = await importKnowledgeDir(store, { expected: await scanKnowledgeDir(dir(goodFiles())), ingest: data.ingest });
  assert.equal(again.reused, true);
  assert.equal(again.key, first.key);

  // Files not imported yet that change between the run's start (the CLI's scan) and the import.
  const changing = dir({ ...goodFiles(), 'kar/item.jsonl': jsonl(items.map((id) => ({ entityId: id, texts: ['first version'] }))) });
  const before = await scanKnowledgeDir(changing);
  writeFileSync(join(changing, 'kar', 'user.jsonl'), jsonl(users.map((id) => ({ entityId: id, texts: ['changed'] }))));
  await rejects(importKnowledgeDir(store, { expected: before, ingest: data.ingest }), changing, 0, '(directory)');
});
