// Unit tests of refine's pure parts: the strategies' decisions, entity samples (training part only),
// records and reruns' usage, the store-backed call budget, assembly into the encode format, the
// combined output, stage keys, adapter names from the finetune output and the failed-entity query.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import type { DatasetView } from '../../core/data/dataset';
import { latestTrainingInteractions } from '../../core/data/history';
import { parseKnowledgeFile } from '../../core/encode/knowledge';
import { knowledgeFileName } from '../../core/encode/stage';
import {
  budgetPrefix,
  LlmBudget,
  RefineEntities,
  assembleRefineOutput,
  combineRefineOutputs,
  listFailedEntities,
  readRecord,
  refineStageKey,
  resolveRoleModels,
  writeRecord,
  type EntityResult,
} from '../../core/refine';
import { LocalStore, StageOutput } from '../../core/store';
import { failedEntitiesQuery, filterOutcome, finalKnowledge, iterativeOutcome, nextIterativeStep, type RefineStep } from '../../core/rules';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';

let dir: string;
let store: LocalStore;
let data: { ingest: Artifact; view: DatasetView };
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-refine-core-'));
  store = new LocalStore(join(dir, 'store'));
  data = await ingestSynthetic(store, { users: 12, items: 60, seed: 4 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const step = (s: 'reason' | 'refine', reasonable: boolean | null, text = `${s} text`): RefineStep => ({
  step: s,
  seed: 0,
  model: 'm',
  text,
  judgement: reasonable === null ? null : { reasonable, reflection: reasonable ? '' : 'misreads the comedies', model: 'j' },
});

test('iterative refinement: judge every answer, refine until reasonable or the budget is spent', () => {
  assert.deepEqual(nextIterativeStep([step('reason', null)], 1), { kind: 'reflect' });
  assert.deepEqual(nextIterativeStep([step('reason', true)], 1), { kind: 'stop' });
  assert.deepEqual(nextIterativeStep([step('reason', false, 'first')], 1), { kind: 'refine', previous: 'first', reflection: 'misreads the comedies' });
  assert.deepEqual(nextIterativeStep([step('reason', false), step('refine', null)], 1), { kind: 'reflect' });
  assert.deepEqual(nextIterativeStep([step('reason', false), step('refine', false)], 1), { kind: 'stop' });
  assert.equal(nextIterativeStep([step('reason', false), step('refine', false)], 2).kind, 'refine');
  assert.deepEqual(nextIterativeStep([step('reason', false)], 0), { kind: 'stop' }, 'no refinement budget');
  assert.equal(iterativeOutcome([step('reason', true)]), 'accepted_first');
  assert.equal(iterativeOutcome([step('reason', false), step('refine', true)]), 'accepted_after_refine');
  assert.equal(iterativeOutcome([step('reason', false), step('refine', false)]), 'budget_exhausted');
  assert.equal(iterativeOutcome([step('reason', false)]), 'budget_exhausted');
  assert.throws(() => iterativeOutcome([step('reason', null)]));
  assert.deepEqual(finalKnowledge('iterative', [step('reason', false, 'a'), step('refine', false, 'b')]), { texts: ['b'] });
});

test('reflection as a filter: keep the samples judged reasonable; none passing is budget_exhausted', () => {
  const samples = [step('reason', true, 's0'), step('reason', false, 's1'), step('reason', true, 's2')];
  assert.deepEqual(filterOutcome(samples), { outcome: 'accepted_first', kept: [true, false, true] });
  assert.deepEqual(filterOutcome([step('reason', false), step('reason', false)]), { outcome: 'budget_exhausted', kept: [false, false] });
  assert.deepEqual(finalKnowledge('filter', samples, [true, false, true]), { texts: ['s0', 's1', 's2'], kept: [true, false, true] });
  assert.throws(() => filterOutcome([step('reason', null)]));
});

test('entity samples: latest K training interactions for users, training-part raters for items; active users', async () => {
  const seq = await data.view.sequences();
  const users = await RefineEntities.open(data.view, 'user', { historyLength: 5, activeUserMinInteractions: 0 });
  assert.equal(users.total, data.view.meta.users.length);
  const s = users.sample(3);
  assert.ok(s.domain === 'user');
  const expected = latestTrainingInteractions(seq, 3, 5).map((x) => ({ title: data.view.meta.items[x.item - 1]!.title, rating: x.rating }));
  assert.deepEqual(s.history, expected);
  // The latest interactions overall are test-part ones: none of them is shown.
  const lastPos = seq.offsets[4]! - 1;
  if (lastPos - seq.offsets[3]! >= seq.trainEnd[3]!) assert.ok(!s.history.some((h) => h.title === data.view.meta.items[seq.item[lastPos]! - 1]!.title && h.rating === seq.rating[lastPos]));

  const counts = data.view.meta.users.map((_, u) => seq.trainEnd[u]!);
  const m = [...counts].sort((a, b) => a - b)[Math.floor(counts.length / 2)]!;
  const active = await RefineEntities.open(data.view, 'user', { historyLength: 5, activeUserMinInteractions: m });
  for (let u = 0; u < counts.length; u++) assert.equal(active.isActive(u), counts[u]! >= m);

  const items = await RefineEntities.open(data.view, 'item', { historyLength: 4, activeUserMinInteractions: m });
  assert.equal(items.total, data.view.entityItems().length);
  const ref = items.at(0);
  assert.equal(ref.entityId, data.view.item(ref.index).id);
  assert.ok(items.isActive(ref.index), 'the active-user rule never skips items');
  const is = items.sample(ref.index);
  assert.ok(is.domain === 'item' && is.title === data.view.item(ref.index).title);
  for (const side of [is.likeHistory, is.dislikeHistory]) if (side) assert.ok(side.length <= 4 && !side.some((h) => h.title === is.title));
});

function result(index: number, over: Partial<EntityResult> = {}): EntityResult {
  return {
    domain: 'user',
    entityId: data.view.meta.users[index]!,
    index,
    outcome: 'accepted_first',
    strategy: 'iterative',
    steps: [step('reason', true, `knowledge of ${index}`)],
    kar: `kar of ${index}`,
    r2ec: `knowledge of ${index}`,
    r4ec: { texts: [`knowledge of ${index}`] },
    error: null,
    usage: { calls: 2, cacheHits: 1, promptTokens: 100, completionTokens: 50 },
    workflowId: `run/refine/user/${index}`,
    workflowRunId: 'exec-1',
    ...over,
  };
}

test('records: a rerun replaces the record, adds its usage and counts the attempt; a retried save does not', async () => {
  const key = 'refine/records-test';
  await writeRecord(store, key, result(0, { outcome: 'failed_format', r4ec: null, error: { outcome: 'failed_format', call: 'reflect[0]', message: 'no judgement' } }));
  await writeRecord(store, key, result(0, { outcome: 'failed_format', r4ec: null, error: { outcome: 'failed_format', call: 'reflect[0]', message: 'no judgement' } }));
  let r = (await readRecord(store, key, 0))!;
  assert.deepEqual([r.attempts, r.usage.calls], [1, 2], 'same execution saved twice');
  await writeRecord(store, key, result(0, { workflowRunId: 'exec-2' }));
  r = (await readRecord(store, key, 0))!;
  assert.deepEqual([r.outcome, r.attempts, r.usage.calls, r.usage.promptTokens], ['accepted_first', 2, 4, 200]);
  await writeRecord(store, key, result(5, { outcome: 'failed_transport', r4ec: null, error: { outcome: 'failed_transport', call: 'kar', message: '429' } }));
  assert.deepEqual(await listFailedEntities(store, key), [{ entityId: data.view.meta.users[5]!, index: 5, outcome: 'failed_transport', error: '429' }]);
  await store.put('refine-work/refine-bad/e1.json', '{"v":1}');
  await assert.rejects(readRecord(store, 'refine/bad', 1), /e1\.json: field/);
});

test('assembly: one line per entity in every set, approximated users, capped entities without knowledge', async () => {
  const key = 'refine/assemble-test';
  const seq = await data.view.sequences();
  const counts = data.view.meta.users.map((_, u) => seq.trainEnd[u]!);
  const m = [...counts].sort((a, b) => a - b)[Math.floor(counts.length / 2)]!;
  const entities = await RefineEntities.open(data.view, 'user', { historyLength: 5, activeUserMinInteractions: m });
  const active = counts.map((c, u) => (c >= m ? u : -1)).filter((u) => u >= 0);
  const [a, b, c] = active;
  await writeRecord(store, key, result(a!));
  await writeRecord(store, key, result(b!, { outcome: 'failed_format', r4ec: null, error: { outcome: 'failed_format', call: 'reason', message: 'x' }, r2ec: null, kar: null, steps: [] }));
  await writeRecord(store, key, result(c!, { strategy: 'filter', r4ec: { texts: ['s0', 's1'], kept: [false, true] } }));
  const out = await assembleRefineOutput({ store, key, entities, strategy: 'iterative' });
  const s = out.summary;
  assert.equal(s.outcomes.approximated, counts.length - active.length);
  assert.equal(s.outcomes.skipped_call_cap, active.length - 3, 'active users without a record were never started');
  assert.deepEqual([s.outcomes.accepted_first, s.outcomes.failed_format], [2, 1]);
  assert.deepEqual(s.llm, { calls: 6, cacheHits: 3, promptTokens: 300, completionTokens: 150 });
  for (const set of ['kar', 'r2ec', 'r4ec'] as const) {
    const lines = parseKnowledgeFile((await store.get(`${key}/${knowledgeFileName(set, 'user')}`)).toString(), set, { domain: 'user', ids: data.view.meta.users });
    assert.equal(lines.length, counts.length);
    assert.equal(lines.filter((l) => l.approximated).length, s.outcomes.approximated);
    assert.deepEqual(lines.find((l) => l.index === b)!.texts, []);
  }
  const r4ec = parseKnowledgeFile((await store.get(`${key}/r4ec/user.jsonl`)).toString(), 'r4ec', { domain: 'user', ids: data.view.meta.users });
  assert.deepEqual(r4ec.find((l) => l.index === c)!, { entityId: data.view.meta.users[c!]!, index: c, texts: ['s0', 's1'], kept: [false, true] });
  assert.equal((await new StageOutput(store, key).manifest()).meta.outcomes !== undefined, true);

  // A second commit after a record changed gives a new content hash; combine needs the current one.
  const items = await RefineEntities.open(data.view, 'item', { historyLength: 5, activeUserMinInteractions: 0 });
  const itemOut = await assembleRefineOutput({ store, key: 'refine/assemble-items', entities: items, strategy: 'iterative' });
  const parts = { user: { key, contentHash: out.contentHash }, item: { key: 'refine/assemble-items', contentHash: itemOut.contentHash } };
  const combined = await combineRefineOutputs(store, parts);
  assert.ok(await store.exists(`${combined.key}/r4ec/item.jsonl`) && (await store.exists(`${combined.key}/kar/user.jsonl`)));
  assert.equal((await combineRefineOutputs(store, parts)).reused, true);
  await writeRecord(store, key, result(b!, { workflowRunId: 'exec-2' }));
  const again = await assembleRefineOutput({ store, key, entities, strategy: 'iterative' });
  assert.notEqual(again.contentHash, out.contentHash);
  const fresh = await combineRefineOutputs(store, { ...parts, user: { key, contentHash: again.contentHash } });
  assert.ok(!fresh.reused && fresh.key !== combined.key, 'a rewritten part gives a new combined key');
  await assert.rejects(combineRefineOutputs(store, { ...parts, user: { key, contentHash: 'stale' } }), /changed since it was handed over/);
});

test('budget: charges of several processes add up; the cap stops bookings; a charge retried in any process counts once', async () => {
  const a = new LlmBudget(store, 0);
  const b = new LlmBudget(store, 0);
  const cap = { maxCalls: 10 };
  assert.equal((await a.reserve('run/1', cap, 3)).granted, true);
  await a.charge('run/1', { calls: 4, tokens: 100 }, 3, 'exec-1');
  await a.charge('run/1', { calls: 4, tokens: 100 }, 3, 'exec-1');
  // The same entity execution's charge retried by another process (its worker died after writing).
  assert.deepEqual(await b.charge('run/1', { calls: 4, tokens: 100 }, 0, 'exec-1'), { calls: 4, tokens: 100, usd: 0 });
  await b.charge('run/1', { calls: 5, tokens: 50 }, 0);
  assert.deepEqual(await a.total('run/1'), { calls: 9, tokens: 150, usd: 0 });
  assert.deepEqual(await b.total('run/1'), { calls: 9, tokens: 150, usd: 0 });
  assert.equal((await a.reserve('run/1', cap, 1)).granted, true);
  assert.equal((await a.reserve('run/1', cap, 1)).granted, false, 'the booking of the first counts too');
  assert.equal((await b.reserve('run/1', { maxTokens: 150 }, 1)).granted, false);
  assert.equal((await b.reserve('run/1', {}, 1)).granted, true, 'no cap: always');
  // A new process (restart, another machine) continues from the store.
  assert.deepEqual(await new LlmBudget(store, 0).total('run/1'), { calls: 9, tokens: 150, usd: 0 });
  // One record per charge, never a shared object rewritten.
  assert.equal((await store.list(budgetPrefix('run/1'))).length, 2);
});

test('budget: 40 concurrent charges from 4 processes, half of them retries of each other, count each execution once', async () => {
  const procs = Array.from({ length: 4 }, () => new LlmBudget(store, 0));
  await Promise.all(
    Array.from({ length: 40 }, (_, i) => procs[(i + Math.floor(i / 20)) % 4]!.charge('run/conc', { calls: 1, tokens: 10 }, 0, `exec-${i % 20}`)),
  );
  for (const p of procs) assert.deepEqual(await p.total('run/conc'), { calls: 20, tokens: 200, usd: 0 });
});

test('budget: charges written one object each (before grouping) and grouped charges add up; a charge in both counts once, at its larger count', async () => {
  const prefix = `${budgetPrefix('run/old')}charges/`;
  // A process that listed the charges before the others were written, and trusts its listing for a minute.
  const b = new LlmBudget(store, 60_000);
  assert.deepEqual(await b.total('run/old'), { calls: 0, tokens: 0, usd: 0 });
  await store.put(`${prefix}exec-a.json`, JSON.stringify({ calls: 3, tokens: 30 }));
  await store.put(`${prefix}exec-b.json`, JSON.stringify({ calls: 1, tokens: 10, usd: 0.5 }));
  const a = new LlmBudget(store, 0);
  assert.deepEqual(await a.total('run/old'), { calls: 4, tokens: 40, usd: 0.5 });
  // exec-b again from that process (a race): stored twice, counted once.
  await Promise.all([b.charge('run/old', { calls: 2, tokens: 20 }, 0, 'exec-b'), b.charge('run/old', { calls: 5, tokens: 50 }, 0, 'exec-c')]);
  assert.deepEqual(await new LlmBudget(store, 0).total('run/old'), { calls: 3 + 2 + 5, tokens: 30 + 20 + 50, usd: 0.5 });
  await assert.rejects(
    store.put(`${prefix}zz-bad.json`, JSON.stringify({ v: 2, records: [{ id: 'x', calls: -1, tokens: 0 }] })).then(() => new LlmBudget(store, 0).total('run/old')),
    /zz-bad\.json: records\[0\]: not an LLM budget charge/,
  );
});

test('budget bookings in the store: 60 concurrent reserves from 6 processes never book past the cap; a charge replaces its booking; a retried reserve keeps its answer', async () => {
  const procs = Array.from({ length: 6 }, () => new LlmBudget(store, 0));
  const cap = { maxCalls: 21 };
  await procs[0]!.charge('run/book', { calls: 3, tokens: 30 }, 0, 'earlier');
  // Room for 18 calls: 9 units of 2, whichever processes ask first.
  const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => procs[i % 6]!.reserve('run/book', cap, 2, `unit-${i}`)));
  const granted = answers.map((a, i) => (a.granted ? i : -1)).filter((i) => i >= 0);
  assert.equal(granted.length, 9, `exactly the room: ${granted.length} units of 2 calls granted`);
  // Every process sees the bookings of the others: nothing more fits, with or without a booking id.
  for (const p of procs) {
    assert.equal((await p.reserve('run/book', cap, 1, 'late')).granted, false);
    assert.deepEqual(await p.total('run/book'), { calls: 21, tokens: 30, usd: 0 });
  }
  // A retried reserve gets its first answer (granted stays granted, refused stays refused).
  const refused = answers.findIndex((a) => !a.granted);
  assert.equal((await procs[3]!.reserve('run/book', cap, 2, `unit-${granted[0]}`)).granted, true);
  assert.equal((await procs[4]!.reserve('run/book', cap, 2, `unit-${refused}`)).granted, false);
  // A unit that used one call less than it booked frees one; a unit that used one more takes one.
  await procs[1]!.charge('run/book', { calls: 1, tokens: 10 }, 2, `unit-${granted[0]}`);
  await procs[2]!.charge('run/book', { calls: 3, tokens: 10 }, 2, `unit-${granted[1]}`);
  assert.deepEqual(await procs[5]!.total('run/book'), { calls: 21, tokens: 50, usd: 0 });
  // The refusals are charges of 0 calls: counted nowhere, and a retry of the charge keeps them.
  assert.deepEqual(await new LlmBudget(store, 0).total('run/book'), { calls: 21, tokens: 50, usd: 0 });
});

test('stage key: operational knobs and the cap do not change it; models and strategy do', () => {
  const cfg = (o: object) => R4ecConfigSchema.parse(o);
  const k = (o: object) => refineStageKey(cfg(o), 'user', data.ingest, undefined);
  const base = k({});
  assert.equal(k({ llm: { cap: { maxCalls: 5 }, formatRetries: 4, simulator: { malformedRate: 0.3 } }, refine: { window: 3, batchPerRun: 7 } }), base);
  assert.notEqual(k({ refine: { maxIterations: 2 } }), base);
  assert.notEqual(k({ refine: { strategy: 'filter' } }), base);
  assert.notEqual(k({ llm: { actor: { baseUrl: 'http://127.0.0.1:9/v1', model: 'qwen' } } }), base);
  assert.notEqual(refineStageKey(cfg({}), 'item', data.ingest, undefined), base);
  assert.notEqual(refineStageKey(cfg({}), 'user', data.ingest, { key: 'finetune/x', contentHash: 'h' }), base);
  assert.equal(refineStageKey(cfg({ refine: { activeUserMinInteractions: 9 } }), 'item', data.ingest, undefined), refineStageKey(cfg({}), 'item', data.ingest, undefined));
});

test('adapter names come from the finetune output; backend none or no output means base models', async () => {
  const out = new StageOutput(store, 'finetune/test');
  const entry = (job: string, servedName: string) => ({ jobKey: `${job}-key`, job, domain: job.split('-')[0], role: job.split('-')[1], servedName });
  await out.putJson('adapters.json', { backend: 'local', baseModel: 'tiny', adapters: { 'user-actor': entry('user-actor', 'r4ec-user-actor-1'), 'user-reflection': entry('user-reflection', 'r4ec-user-reflection-1'), 'item-actor': entry('item-actor', 'r4ec-item-actor-1') } });
  const ft = { key: 'finetune/test', contentHash: await out.commit('finetune') };
  const config = R4ecConfigSchema.parse({});
  assert.deepEqual(await resolveRoleModels(store, config, 'user', ft), { models: { actor: 'r4ec-user-actor-1', reflection: 'r4ec-user-reflection-1' }, adapterJobKeys: ['user-actor-key', 'user-reflection-key'] });
  assert.deepEqual((await resolveRoleModels(store, config, 'item', ft)).models, { actor: 'r4ec-item-actor-1' });
  assert.deepEqual(await resolveRoleModels(store, R4ecConfigSchema.parse({ finetune: { backend: 'none' } }), 'user', ft), { models: {}, adapterJobKeys: [] });
  assert.deepEqual(await resolveRoleModels(store, config, 'user', undefined), { models: {}, adapterJobKeys: [] });
  const bad = new StageOutput(store, 'finetune/bad');
  await bad.put('other.txt', 'x');
  await assert.rejects(resolveRoleModels(store, config, 'user', { key: 'finetune/bad', contentHash: await bad.commit('finetune') }), /adapters\.json/);
});

test('the failed-entity visibility query', () => {
  assert.equal(failedEntitiesQuery('r4ec-ml-1m-abc'), 'R4ecRunId="r4ec-ml-1m-abc" AND R4ecStage="refine" AND R4ecOutcome IN ("failed_format","failed_transport")');
  assert.equal(failedEntitiesQuery('a"b', 'item'), 'R4ecRunId="a\\"b" AND R4ecStage="refine" AND R4ecOutcome IN ("failed_format","failed_transport") AND R4ecDomain="item"');
});
