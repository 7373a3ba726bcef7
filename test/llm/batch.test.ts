// The teacher's batch client against the real simulator over HTTP: files hold exactly the requests
// the synchronous path sends, answers land in the same cache, format re-asks and resubmissions go
// into later rounds, an expired batch is made whole, and the outcome equals the synchronous one.
// Creating is idempotent by metadata lookup, also for a caller killed after the create call.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { toFile } from 'openai';
import type { EndpointConfig } from '../../config/schema';
import { BatchClient, type BatchHandling } from '../../core/llm/batch';
import { batchMetadata, BatchItemSchema, type BatchItem } from '../../core/llm/batch-files';
import { runBatchRounds, type SettledBatchResult } from '../../core/llm/batch-run';
import { LlmCache } from '../../core/llm/cache';
import { LlmClient } from '../../core/llm/client';
import { correctionTurn, parseAnswer, type ParsedAnswer } from '../../core/llm/parse';
import { priceTable, summarizeCost } from '../../core/llm/prices';
import { UsageLedger } from '../../core/llm/usage';
import { buildPrompt } from '../../core/prompts/builders';
import { kindLabel, type PromptKind } from '../../core/prompts/tags';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../core/sim/server';
import { ALL_KINDS, CATALOG, specFor } from '../sim/fixtures';

const dirs: string[] = [];
const sims: RunningSimulator[] = [];
after(async () => {
  await Promise.all(sims.map((s) => s.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'r4ec-batch-'));
  dirs.push(d);
  return d;
}
async function sim(opts: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ catalog: CATALOG, models: ['gpt-4o'], seed: 11, ...opts });
  sims.push(s);
  return s;
}
function endpoint(s: RunningSimulator): EndpointConfig {
  return { baseUrl: `${s.url}/v1`, model: 'gpt-4o', concurrency: 8, timeoutMs: 10_000, temperature: 0.7, topP: 1, maxTokens: 512 };
}

const CONSTRUCT_KINDS = ALL_KINDS.filter((k) => k.variant === 'construct');
const kindOf = (id: string): PromptKind => CONSTRUCT_KINDS.find((k) => id.startsWith(`${kindLabel(k)}/`))!;

/** One item per (construct prompt kind, seed). */
function items(seeds: number, meta = true): BatchItem[] {
  const out: BatchItem[] = [];
  for (let seed = 0; seed < seeds; seed++)
    for (const k of CONSTRUCT_KINDS) {
      out.push({ id: `${kindLabel(k)}/${seed}`, messages: buildPrompt(specFor(k)), seed, ...(meta ? { meta: { runId: 'run-b', stage: 'construct', role: 'teacher', domain: k.domain } } : {}) });
    }
  return out;
}

const handling = (formatRetries = 2, transportAttempts = 5): BatchHandling<ParsedAnswer> => ({
  parse: (item, text) => parseAnswer(kindOf(item.id), text),
  correction: (item, e) => correctionTurn(kindOf(item.id), e),
  formatRetries,
  transportAttempts,
});

function batchClient(s: RunningSimulator, dir: string, over: { maxRequestsPerFile?: number; maxBytesPerFile?: number } = {}) {
  const client = new LlmClient({ endpoint: endpoint(s) });
  const cache = new LlmCache(join(dir, 'cache'));
  const ledger = new UsageLedger(join(dir, 'usage'));
  return { client, cache, ledger, bc: new BatchClient({ client, cache, ledger, ...over }) };
}

const scope = { runId: 'run-b', stage: 'construct', domain: 'user' };

test('files: one line per distinct request, exactly the synchronous request (same hash), split by count and bytes, stable under reordering', async () => {
  const s = await sim();
  const { client, bc } = batchClient(s, tmp(), { maxRequestsPerFile: 5 });
  const its = items(1);
  const dup = { ...its[0]!, id: 'same-request-again' };
  const files = bc.plan([...its, dup]);
  assert.deepEqual(files.map((f) => f.customIds.length), [5, 5, 2]);
  assert.ok(files.every((f) => f.parts === 3));
  const ids = files.flatMap((f) => f.customIds);
  assert.deepEqual(new Set(ids), new Set(its.map((i) => client.hashOf(i))), 'custom_id = the cache key; the duplicate is sent once');
  assert.deepEqual(bc.plan([...its].reverse()).map((f) => f.contentHash), files.map((f) => f.contentHash));
  const line = JSON.parse(files[0]!.data.toString('utf8').split('\n')[0]!) as { custom_id: string; method: string; url: string; body: Record<string, unknown> };
  assert.equal(line.method, 'POST');
  assert.equal(line.url, '/v1/chat/completions');
  assert.deepEqual(Object.keys(line.body).sort(), ['max_tokens', 'messages', 'model', 'seed', 'temperature', 'top_p']);

  // The simulator hashes what it receives: a synchronous call and a batch line of one request agree.
  const item = its.find((i) => client.hashOf(i) === line.custom_id)!;
  await client.chat({ messages: item.messages, seed: item.seed });
  const batch = (await bc.submit({ ...scope, round: 1 }, files[0]!)).batch;
  for (let b = batch; !b.terminal; b = await bc.poll(b.id)) await new Promise((r) => setTimeout(r, 10));
  const [syncEntry, ...rest] = s.requestLog.filter((e) => e.hash === line.custom_id);
  assert.equal(syncEntry!.path, '/v1/chat/completions');
  assert.equal(rest.length, 1);
  assert.equal(rest[0]!.path, '/v1/batches');
  assert.equal(rest[0]!.customId, line.custom_id);

  const limit = 2 * Math.max(...files.map((f) => f.bytes / f.customIds.length));
  const bySize = batchClient(s, tmp(), { maxBytesPerFile: limit }).bc.plan(its);
  assert.ok(bySize.length >= 4 && bySize.every((f) => f.bytes <= limit));
  assert.equal(bySize.reduce((a, f) => a + f.customIds.length, 0), its.length);
  assert.ok(items(1).every((i) => BatchItemSchema.safeParse(JSON.parse(JSON.stringify(i))).success), 'items survive JSON (store, payloads)');
});

test('rounds: 15 % malformed, 429 and 500 lines and one expired batch settle exactly as the synchronous path does; no synchronous request', async () => {
  const faults = { malformedRate: 0.15, rateLimitRate: 0.08, serverErrorRate: 0.05, retryAfterSeconds: 0.01 };
  const its = items(4);
  // The synchronous path, on its own simulator with the same seed.
  const syncSim = await sim({ faults });
  const syncClient = new LlmClient({ endpoint: endpoint(syncSim), cache: new LlmCache(join(tmp(), 'c')) });
  const sync = new Map<string, { status: string; text: string }>();
  for (const it of its) {
    const k = kindOf(it.id);
    const r = await syncClient.ask({ messages: it.messages, seed: it.seed, parse: (t) => parseAnswer(k, t), correction: (e) => correctionTurn(k, e), formatRetries: 2, transportRetries: 4 });
    sync.set(it.id, { status: r.status, text: r.status === 'ok' ? r.text : r.lastText });
  }

  const s = await sim({ faults, batch: { expireBatches: [1], completionDelayMs: 30 } });
  const dir = tmp();
  const { bc, cache, ledger } = batchClient(s, dir, { maxRequestsPerFile: 40 });
  const rounds: Array<{ round: number; sent: number; statuses: string[] }> = [];
  const results = await runBatchRounds(bc, its, { scope, handling: handling(), pollIntervalMs: 10, onRound: (r) => rounds.push({ round: r.round, sent: r.sent, statuses: r.batches.map((b) => b.status) }) });

  assert.equal(results.size, its.length);
  assert.deepEqual(rounds.flatMap((r) => r.statuses).filter((x) => x === 'expired'), ['expired'], 'the first batch created expired');
  assert.equal(rounds[0]!.statuses.length, 2, '48 requests at 40 per file');
  assert.ok(rounds.length >= 2);
  assert.ok(rounds.slice(1).every((r) => r.sent < its.length), 'later rounds hold only re-asks and resubmissions');
  const reasons = new Set<string>();
  for (const [id, r] of results) {
    const want = sync.get(id)!;
    assert.equal(r.status, want.status, id);
    if (r.status === 'ok') assert.equal(r.text, want.text, id);
    if (r.status === 'ok' && r.formatAttempts > 1) reasons.add('reasked');
  }
  const log = s.requestLog;
  assert.ok(reasons.has('reasked'), 'some answers needed a re-ask');
  assert.ok(log.some((e) => e.outcome === 'rate_limited') && log.some((e) => e.outcome === 'server_error'));
  assert.equal(log.filter((e) => e.path === '/v1/chat/completions').length, 0, 'no synchronous request');
  const okIds = [...results.values()].filter((r): r is Extract<SettledBatchResult<ParsedAnswer>, { status: 'ok' }> => r.status === 'ok');
  for (const r of okIds) assert.equal((await cache.peek(r.requestHash))?.text, r.text, 'parsed answers are cached under their request hash');
  // A malformed answer is never cached; its request hash holds the parsed answer of its re-ask chain.
  let chained = 0;
  for (const e of log.filter((x) => x.outcome === 'malformed')) {
    const c = await cache.peek(e.hash);
    if (!c) continue;
    chained++;
    assert.doesNotThrow(() => parseAnswer(ALL_KINDS.find((k) => kindLabel(k) === e.kind)!, c.text));
  }
  assert.ok(chained > 0);

  // Usage: batch lines are recorded as such, so money takes the batch price.
  const records = await ledger.read('run-b');
  assert.ok(records.length > 0 && records.every((r) => r.batch === true));
  const money = summarizeCost(records, priceTable());
  const sync$ = summarizeCost(records.map((r) => ({ ...r, batch: false })), priceTable());
  assert.ok(money.total.usd > 0);
  assert.ok(Math.abs(money.total.usd * 2 - sync$.total.usd) < 1e-9, 'the batch path costs half');

  // A second pass finds every answer in the cache: no batch is created.
  const before = log.filter((e) => e.outcome === 'api' && e.method === 'POST' && e.path === '/v1/batches').length;
  const again = await runBatchRounds(bc, its.filter((i) => results.get(i.id)!.status === 'ok'), { scope: { ...scope, runId: 'run-c' }, handling: handling(), pollIntervalMs: 10 });
  assert.ok([...again.values()].every((r) => r.status === 'ok' && r.cacheHit));
  assert.equal(log.filter((e) => e.outcome === 'api' && e.method === 'POST' && e.path === '/v1/batches').length, before);
});

test('submit is idempotent by metadata: a second call, and a caller killed after its create call, find the batch; racing callers end with one', async () => {
  const s = await sim({ batch: { completionDelayMs: 2000 } });
  const { bc, client } = batchClient(s, tmp());
  const [file] = bc.plan(items(1));
  const first = await bc.submit({ ...scope, round: 1 }, file!);
  assert.equal(first.created, true);
  const second = await bc.submit({ ...scope, round: 1 }, file!);
  assert.deepEqual([second.created, second.batch.id], [false, first.batch.id]);
  const other = await bc.submit({ ...scope, round: 2 }, file!);
  assert.equal(other.created, true, 'another round is another batch');

  // As if a worker had uploaded and created, then died before recording anything.
  const [file2] = bc.plan(items(2).slice(12));
  const uploaded = await client.api.files.create({ file: await toFile(file2!.data, 'x.jsonl'), purpose: 'batch' });
  const orphan = await client.api.batches.create({ input_file_id: uploaded.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: batchMetadata({ ...scope, round: 1 }, file2!) });
  const resumed = await bc.submit({ ...scope, round: 1 }, file2!);
  assert.deepEqual([resumed.created, resumed.batch.id], [false, orphan.id]);

  // Two callers past the lookup at once: both end on the oldest batch, the other is cancelled.
  const [file3] = bc.plan(items(3).slice(24));
  const [a, b] = await Promise.all([bc.submit({ ...scope, round: 1 }, file3!), bc.submit({ ...scope, round: 1 }, file3!)]);
  assert.equal(a.batch.id, b.batch.id);
  const same = await bc.findAll({ ...scope, round: 1 }, file3!);
  assert.equal(same.filter((x) => !['cancelling', 'cancelled'].includes(x.status)).length, 1);
  const creates = s.requestLog.filter((e) => e.outcome === 'api' && e.method === 'POST' && e.path === '/v1/batches').length;
  assert.equal(creates, same.length + 3, 'a batch per distinct (scope, file) plus the racing duplicate');
});

test('cancel: a run cancels only its own open batches; unrun lines come back for resubmission', async () => {
  const s = await sim({ batch: { validatingMs: 3000 } });
  const { bc } = batchClient(s, tmp());
  const its = items(1);
  const [file] = bc.plan(its);
  const mine = (await bc.submit({ ...scope, round: 1 }, file!)).batch;
  const theirs = (await bc.submit({ ...scope, runId: 'run-other', round: 1 }, file!)).batch;
  const cancelled = await bc.cancelRun('run-b');
  assert.deepEqual(cancelled.map((b) => [b.id, b.status]), [[mine.id, 'cancelling']]);
  assert.equal((await bc.poll(theirs.id)).status, 'validating');
  let done = await bc.poll(mine.id);
  while (!done.terminal) done = await bc.poll(mine.id);
  assert.equal(done.status, 'cancelled');
  const results = await bc.collect(done, its, handling());
  assert.equal(results.length, its.length);
  assert.ok(results.every((r) => r.status === 'retry' && r.reason === 'transport' && r.code === 'batch_cancelled' && r.item.transportAttempts === 1));
  assert.deepEqual((await bc.cancel(mine.id)).status, 'cancelled', 'cancelling a finished batch returns it');
  await bc.cancelRun('run-other');
});

test('budgets: lines failing every time end failed_transport after the transport budget; a non-retryable line at once; unparsable answers failed_format, never cached', async () => {
  const errors = await sim({ faults: { serverErrorRate: 1 }, batch: {} });
  const e = batchClient(errors, tmp());
  const its = items(1).slice(0, 3);
  const rounds: number[] = [];
  const r1 = await runBatchRounds(e.bc, its, { scope, handling: handling(2, 3), pollIntervalMs: 5, onRound: (r) => rounds.push(r.sent) });
  assert.deepEqual(rounds, [3, 3, 3], 'three deliveries each');
  assert.ok([...r1.values()].every((r) => r.status === 'failed_transport' && r.code === 'http_500' && r.retryable));

  const unknown = await sim({ models: ['another-model'] });
  const u = batchClient(unknown, tmp());
  const r2 = await runBatchRounds(u.bc, its, { scope, handling: handling(2, 5), pollIntervalMs: 5 });
  assert.ok([...r2.values()].every((r) => r.status === 'failed_transport' && !r.retryable && r.code === '404'));

  const broken = await sim({ faults: { malformedRate: 1 } });
  const b = batchClient(broken, tmp());
  const r3 = await runBatchRounds(b.bc, its, { scope, handling: handling(1, 5), pollIntervalMs: 5 });
  for (const r of r3.values()) {
    assert.equal(r.status, 'failed_format');
    if (r.status === 'failed_format') assert.equal(r.formatAttempts, 2);
  }
  for (const entry of broken.requestLog.filter((x) => x.hash)) assert.equal(await b.cache.peek(entry.hash), undefined);
  assert.equal(broken.requestLog.filter((x) => x.path === '/v1/batches' && !x.method).length, 6, 'each item asked twice (1 re-ask)');
});
