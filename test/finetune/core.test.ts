// Pure finetune logic: SFT validation and merging, the authors' D_refine conversion, job keys,
// dataset lookup in a construct output, and the write-once adapter registry.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import {
  FinetuneError,
  convertAuthorsRefine,
  findDatasetFile,
  getAdapter,
  hyperParameters,
  listAdapters,
  loraJobKey,
  mergeSftDatasets,
  parseSftJsonl,
  registerAdapter,
  servedAdapterName,
  toJsonl,
} from '../../core/finetune';
import { LocalStore } from '../../core/store';
import { sharedPath, skipWithoutShared } from '../helpers/data';
import { sftLine, sftRecords } from './fixtures';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function thrown(fn: () => unknown): FinetuneError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FinetuneError, String(e));
    return e;
  }
  assert.fail('expected a FinetuneError');
}

test('parseSftJsonl reads chat records and skips blank lines', () => {
  const text = sftRecords(3).map((r) => JSON.stringify(r)).join('\n') + '\n\n';
  const recs = parseSftJsonl(text, 'd.jsonl');
  assert.equal(recs.length, 3);
  assert.deepEqual(recs.map((r) => r.messages.map((m) => m.role)), Array(3).fill(['system', 'user', 'assistant']));
});

test('a malformed line names the file, the line and the field', () => {
  const cases: Array<[string, RegExp]> = [
    ['{oops', /d\.jsonl:2: not valid JSON/],
    [JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }), /d\.jsonl:2: field "messages": expected at least/],
    [JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'user', content: 'a' }] }), /d\.jsonl:2: field "messages\[1\]\.role": the last message must be the assistant's/],
    [JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: ' ' }] }), /d\.jsonl:2: field "messages\[1\]\.content": expected non-empty text/],
    [JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'bot', content: 'a' }] }), /d\.jsonl:2: field "messages\[1\]\.role"/],
    [JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'system', content: 's' }, { role: 'assistant', content: 'a' }] }), /messages\[1\]\.role": a system message may only come first/],
    [JSON.stringify({ messages: sftRecords(1)[0]!.messages, extra: 1 }), /d\.jsonl:2: field "\(record\)"|d\.jsonl:2: .*extra/],
  ];
  for (const [line, re] of cases) {
    const e = thrown(() => parseSftJsonl(`${sftLine(0)}\n${line}\n`, 'd.jsonl'));
    assert.equal(e.code, 'BadDataset');
    assert.equal(e.retryable, false);
    assert.match(e.message, re, line);
  }
  const many = thrown(() => parseSftJsonl('x\n'.repeat(9), 'd.jsonl'));
  assert.match(many.message, /and 4 more bad lines/);
});

test('merging D_reason and D_refine concatenates both and hashes the content', () => {
  const a = sftRecords(3).map((r) => JSON.stringify(r)).join('\n');
  const b = sftRecords(2, 10).map((r) => JSON.stringify(r)).join('\n');
  const m = mergeSftDatasets([
    { source: 'reason.jsonl', text: a },
    { source: 'refine.jsonl', text: b },
  ]);
  assert.equal(m.records, 5);
  assert.deepEqual(m.sources, [
    { source: 'reason.jsonl', records: 3 },
    { source: 'refine.jsonl', records: 2 },
  ]);
  assert.equal(parseSftJsonl(m.jsonl, 'merged').length, 5);
  assert.notEqual(m.hash, mergeSftDatasets([{ source: 'reason.jsonl', text: a }]).hash);
  // Formatting of the source files does not matter, content does.
  const pretty = sftRecords(3).map((r) => JSON.stringify(r, null, 0)).join('\n\n');
  assert.equal(mergeSftDatasets([{ source: 'x', text: pretty }]).hash, mergeSftDatasets([{ source: 'y', text: a }]).hash);
  assert.equal(mergeSftDatasets([]).records, 0);
});

test("convertAuthorsRefine turns {user_id, prompt, answer} into system/user/assistant records", () => {
  const recs = convertAuthorsRefine(
    [
      { user_id: '5315', prompt: ' <User History>[...]</User History> refine it ', answer: ' The user likes X. ' },
      { user_id: 7, prompt: 'p', answer: 'a' },
    ],
    'sample.json',
  );
  assert.equal(recs.length, 2);
  assert.deepEqual(recs[0]!.messages.map((m) => m.role), ['system', 'user', 'assistant']);
  assert.equal(recs[0]!.messages[1]!.content, '<User History>[...]</User History> refine it');
  assert.equal(recs[0]!.messages[2]!.content, 'The user likes X.');
  assert.equal(parseSftJsonl(toJsonl(recs), 'converted').length, 2);
  assert.match(thrown(() => convertAuthorsRefine({}, 's.json')).message, /s\.json: expected a JSON array/);
  assert.match(thrown(() => convertAuthorsRefine([{ user_id: '1', prompt: 'p', answer: '' }], 's.json')).message, /record \[0\] field "answer"/);
  assert.match(thrown(() => convertAuthorsRefine([{ user_id: '1', answer: 'a' }], 's.json')).message, /record \[0\] field "prompt"/);
});

test("the authors' shared D_refine sample converts to valid SFT JSONL", { skip: skipWithoutShared('r4ec/amz_user_refine.json') }, () => {
  const raw: unknown = JSON.parse(readFileSync(sharedPath('r4ec', 'amz_user_refine.json'), 'utf8'));
  const recs = convertAuthorsRefine(raw, 'amz_user_refine.json');
  assert.equal(recs.length, 568);
  const back = parseSftJsonl(toJsonl(recs), 'converted.jsonl');
  assert.equal(back.length, 568);
  for (const r of back) {
    assert.match(r.messages[1]!.content, /<User History>/);
    assert.match(r.messages[1]!.content, /<Reflection>/);
    // The assistant turn is the bare refined preference: no tags.
    assert.doesNotMatch(r.messages[2]!.content, /<\/?[A-Z][A-Za-z ]+>/);
  }
});

test('job keys change with data, base model and hyper-parameters, not with operational knobs', () => {
  const ft = R4ecConfigSchema.parse({}).finetune;
  const base = { kind: 'local' as const, path: '/m', configSha256: 'c1' };
  const key = (over: { dataHash?: string; base?: typeof base; ft?: typeof ft } = {}) =>
    loraJobKey({ backend: 'local', baseModel: over.base ?? base, dataHash: over.dataHash ?? 'h1', hyper: hyperParameters(over.ft ?? ft) });
  const k = key();
  assert.match(k, /^[0-9a-f]{24}$/);
  assert.equal(key(), k);
  assert.notEqual(key({ dataHash: 'h2' }), k);
  assert.notEqual(key({ base: { ...base, configSha256: 'c2' } }), k);
  assert.notEqual(key({ ft: { ...ft, lora: { ...ft.lora, r: 16 } } }), k);
  assert.notEqual(key({ ft: { ...ft, lora: { ...ft.lora, learningRate: 2e-4 } } }), k);
  // Resuming with a smaller micro-batch after an OOM, or checkpointing more often, is the same job.
  assert.equal(key({ ft: { ...ft, lora: { ...ft.lora, microBatchSize: 2, checkpointEvery: 5 }, device: 'cpu', pollIntervalMs: 10 } }), k);
  assert.equal(servedAdapterName('user-actor', k), `r4ec-user-actor-${k.slice(0, 12)}`);
  // The paper's defaults are what the trainer gets.
  assert.deepEqual(
    [ft.lora.r, ft.lora.alpha, ft.lora.dropout, ft.lora.targetModules, ft.lora.epochs, ft.lora.learningRate, ft.lora.scheduler, ft.lora.warmupRatio, ft.lora.batchSize, ft.lora.cutoffLen],
    [8, 16, 0.05, 'all-linear', 3, 1e-4, 'cosine', 0.1, 16, 2048],
  );
});

test('findDatasetFile picks each D_* file of a construct output by name', () => {
  const files = ['report.json', 'reason.jsonl', 'reflect.jsonl', 'refine.jsonl', 'outcomes.jsonl'];
  assert.equal(findDatasetFile(files, 'reason'), 'reason.jsonl');
  assert.equal(findDatasetFile(files, 'reflect'), 'reflect.jsonl');
  assert.equal(findDatasetFile(['user/d_refine.jsonl', 'user/d_reason.jsonl'], 'refine'), 'user/d_refine.jsonl');
  assert.equal(findDatasetFile(['user-reason.jsonl'], 'reflect'), undefined);
  assert.throws(() => findDatasetFile(['a/reason.jsonl', 'b/reason.jsonl'], 'reason'), /2 files for D_reason/);
});

test('the adapter registry keeps the first registration of a job key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-ft-reg-'));
  dirs.push(dir);
  const store = new LocalStore(join(dir, 'store'));
  const entry = {
    jobKey: 'k1',
    job: 'user-actor' as const,
    domain: 'user' as const,
    role: 'actor' as const,
    backend: 'openai' as const,
    baseModel: 'gpt-4o-mini',
    servedName: 'ft:gpt-4o-mini:org:r4ec-k1:abc',
    dataHash: 'h',
    records: 3,
    hyperParameters: { epochs: 3 },
    metrics: {},
    jobId: 'ftjob-1',
    createdAt: new Date(0).toISOString(),
  };
  assert.equal(await getAdapter(store, 'k1'), undefined);
  const first = await registerAdapter(store, entry);
  assert.equal(first.registered, true);
  assert.equal(first.entry.adapterKey, null);
  const second = await registerAdapter(store, { ...entry, jobId: 'ftjob-2' });
  assert.equal(second.registered, false);
  assert.equal(second.entry.jobId, 'ftjob-1');
  assert.deepEqual((await listAdapters(store)).map((e) => e.jobKey), ['k1']);
});
