// The LLM client against the real simulator over HTTP: every prompt kind, every fault, the cache,
// the usage ledger, API keys, unknown models and adapters, and the per-endpoint limits.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EndpointConfig } from '../../config/schema';
import { loadLoraAdapter, unloadLoraAdapter } from '../../core/llm/adapters';
import { LlmCache } from '../../core/llm/cache';
import { LlmClient, type AskResult } from '../../core/llm/client';
import { LlmError, parseRetryAfter } from '../../core/llm/errors';
import { EndpointLimiter } from '../../core/llm/limiter';
import { correctionTurn, parseAnswer, type ParsedAnswer } from '../../core/llm/parse';
import { UsageLedger } from '../../core/llm/usage';
import { LocalStore } from '../../core/store';
import { buildPrompt } from '../../core/prompts/builders';
import { kindLabel, type PromptKind } from '../../core/prompts/tags';
import type { RunningSimulator } from '../../core/sim/server';
import { simulatorHarness } from '../helpers/simulator';
import { ALL_KINDS, CATALOG, specFor } from '../sim/fixtures';

const { start: sim, tmp } = simulatorHarness({ catalog: CATALOG, models: ['sim-base'], seed: 3 });

function endpoint(s: RunningSimulator, over: Partial<EndpointConfig> = {}): EndpointConfig {
  return { baseUrl: `${s.url}/v1`, model: 'sim-base', concurrency: 8, timeoutMs: 10_000, temperature: 0.7, topP: 1, maxTokens: 512, ...over };
}

const KIND: PromptKind = { domain: 'user', step: 'reason', variant: 'construct', medium: 'movie' };

function ask(client: LlmClient, kind: PromptKind, seed: number, extra: { formatRetries?: number; transportRetries?: number; meta?: { runId: string; stage: string; role: string } } = {}): Promise<AskResult<ParsedAnswer>> {
  return client.ask({
    messages: buildPrompt(specFor(kind)),
    seed,
    parse: (t) => parseAnswer(kind, t),
    correction: (e) => correctionTurn(kind, e),
    formatRetries: extra.formatRetries ?? 0,
    ...(extra.transportRetries !== undefined ? { transportRetries: extra.transportRetries } : {}),
    ...(extra.meta ? { meta: extra.meta } : {}),
  });
}

async function rejectsWith(p: Promise<unknown>, check: (e: LlmError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof LlmError, `expected LlmError, got ${String(e)}`);
    check(e);
    return true;
  });
}

test('every prompt kind round-trips through the simulator in the exact format', async () => {
  const s = await sim();
  const client = new LlmClient({ endpoint: endpoint(s) });
  for (const k of ALL_KINDS) {
    const r = await ask(client, k, 0);
    assert.equal(r.status, 'ok', `${kindLabel(k)}: ${r.status === 'failed_format' ? r.error : ''}`);
    if (r.status !== 'ok') continue;
    const expected = k.step === 'reflect' ? 'judgement' : k.variant === 'construct' ? 'verdict' : 'knowledge';
    assert.equal(r.value.type, expected, kindLabel(k));
    assert.equal(r.formatAttempts, 1);
    // The simulator recognised the kind from the prompt's structure alone.
    assert.equal(s.requestLog.at(-1)!.kind, kindLabel(k));
  }
});

test('a repeated call is a cache hit: counted, no request sent, token usage recorded per call and summed', async () => {
  const s = await sim();
  const dir = tmp();
  const cache = new LlmCache(join(dir, 'llm-cache'));
  const ledger = new UsageLedger(join(dir, 'llm-usage'));
  const meta = { runId: 'run-1', stage: 'construct', role: 'teacher' };
  const client = new LlmClient({ endpoint: endpoint(s), cache, ledger });
  const first = await ask(client, KIND, 0, { meta });
  const second = await ask(client, KIND, 0, { meta });
  assert.ok(first.status === 'ok' && second.status === 'ok');
  assert.equal(first.cacheHit, false);
  assert.equal(second.cacheHit, true);
  assert.equal(second.text, first.text);
  assert.equal(cache.hits, 1);
  assert.equal(s.stats().requests, 1);
  assert.ok(first.usage.promptTokens > 0 && first.usage.completionTokens > 0);
  // Another seed is another request; a fresh process (new cache object, same dir) still hits.
  await ask(client, KIND, 1, { meta });
  const restarted = new LlmClient({ endpoint: endpoint(s, { baseUrl: `${s.url}/v1/` }), cache: new LlmCache(join(dir, 'llm-cache')), ledger });
  const third = await ask(restarted, KIND, 0, { meta: { ...meta, role: 'actor' } });
  assert.ok(third.status === 'ok' && third.cacheHit);
  assert.equal(s.stats().requests, 2);
  const sum = await ledger.summarize('run-1');
  assert.equal(sum.total.calls, 2);
  assert.equal(sum.total.cacheHits, 2);
  assert.ok(first.status === 'ok');
  assert.equal(sum.byRole.teacher!.calls, 2);
  assert.equal(sum.byRole.actor!.cacheHits, 1);
  assert.equal(sum.byStage.construct!.calls, 2);
  assert.equal(sum.byStageRole['construct/teacher']!.cacheHits, 1);
  assert.ok(sum.total.promptTokens >= first.usage.promptTokens * 2);
});

test('429 is retryable with Retry-After; the in-process retry waits for it and then succeeds', async () => {
  const always = await sim({ faults: { rateLimitRate: 1, retryAfterSeconds: 0.3 } });
  await rejectsWith(new LlmClient({ endpoint: endpoint(always) }).chat({ messages: buildPrompt(specFor(KIND)), seed: 0 }), (e) => {
    assert.equal(e.kind, 'rate_limited');
    assert.equal(e.status, 429);
    assert.equal(e.retryable, true);
    assert.equal(e.retryAfterMs, 300);
    assert.ok(e.message.includes(always.url) && e.message.includes('sim-base'));
  });

  // Half the occurrences are 429s: find a request whose first occurrence was one.
  const s = await sim({ faults: { rateLimitRate: 0.5, retryAfterSeconds: 0.3 } });
  const client = new LlmClient({ endpoint: endpoint(s) });
  let checked = false;
  for (let seed = 0; seed < 20 && !checked; seed++) {
    const r = await ask(client, KIND, seed, { transportRetries: 6 });
    assert.equal(r.status, 'ok');
    const mine = s.requestLog.filter((e) => e.hash === (r.status === 'ok' ? r.requestHash : ''));
    if (mine[0]!.outcome !== 'rate_limited') continue;
    checked = true;
    assert.equal(mine.at(-1)!.outcome, 'ok');
    assert.deepEqual(mine.map((e) => e.occurrence), mine.map((_, i) => i + 1));
    const gap = Date.parse(mine[1]!.at) - Date.parse(mine[0]!.at);
    assert.ok(gap >= 250, `retried after ${gap} ms, Retry-After was 300 ms`);
  }
  assert.ok(checked, 'no request met a 429 first');
});

test('500 is retryable; a timeout is retryable and the simulator logs the call as aborted', async () => {
  const s = await sim({ faults: { serverErrorRate: 1 } });
  await rejectsWith(new LlmClient({ endpoint: endpoint(s) }).chat({ messages: buildPrompt(specFor(KIND)), seed: 0 }), (e) => {
    assert.equal(e.kind, 'server_error');
    assert.equal(e.status, 500);
    assert.equal(e.retryable, true);
  });
  const slow = await sim({ faults: { latencyMs: 800 } });
  await rejectsWith(new LlmClient({ endpoint: endpoint(slow, { timeoutMs: 150 }) }).chat({ messages: buildPrompt(specFor(KIND)), seed: 0 }), (e) => {
    assert.equal(e.kind, 'timeout');
    assert.equal(e.retryable, true);
  });
  for (let i = 0; i < 40 && slow.requestLog.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(slow.requestLog[0]?.outcome, 'aborted');
});

test('a malformed answer is re-asked with a correction turn (a new request), then failed_format when the budget is spent', async () => {
  const dir = tmp();
  const bad = await sim({ faults: { malformedRate: 1 } });
  const cache = new LlmCache(join(dir, 'c'));
  const r = await ask(new LlmClient({ endpoint: endpoint(bad), cache }), KIND, 0, { formatRetries: 2 });
  assert.equal(r.status, 'failed_format');
  assert.equal(r.formatAttempts, 3);
  assert.equal(bad.requestLog.length, 3);
  assert.equal(new Set(bad.requestLog.map((e) => e.hash)).size, 3, 'each re-ask is a different request');
  assert.ok(bad.requestLog.every((e) => e.outcome === 'malformed' && e.occurrence === 1));
  for (const e of bad.requestLog) assert.equal(await cache.peek(e.hash), undefined, 'unparsed answers are not cached');

  // With some malformed answers, the re-ask gets a good one.
  const some = await sim({ faults: { malformedRate: 0.5 } });
  const client = new LlmClient({ endpoint: endpoint(some), cache: new LlmCache(join(dir, 'd')) });
  let reasked = false;
  for (let seed = 0; seed < 20 && !reasked; seed++) {
    const before = some.requestLog.length;
    const x = await ask(client, KIND, seed, { formatRetries: 5 });
    assert.equal(x.status, 'ok');
    if (x.status === 'ok' && x.formatAttempts > 1) {
      reasked = true;
      const mine = some.requestLog.slice(before);
      assert.equal(mine.length, x.formatAttempts);
      assert.equal(mine.at(-1)!.hash, x.requestHash);
      assert.ok(mine.slice(0, -1).every((e) => e.outcome === 'malformed'));
      // The usable answer is cached for the original prompt as well: a rerun sends nothing.
      const rerun = await ask(client, KIND, seed, { formatRetries: 5 });
      assert.ok(rerun.status === 'ok' && rerun.cacheHit && rerun.text === x.text);
      assert.equal(some.requestLog.length, before + mine.length);
    }
  }
  assert.ok(reasked, 'no request needed a re-ask');
});

test('401 without the right key: not retryable, names endpoint and model, never the key', async () => {
  const s = await sim({ apiKey: 'right-key-123456' });
  await rejectsWith(new LlmClient({ endpoint: endpoint(s) }).chat({ messages: buildPrompt(specFor(KIND)), seed: 0 }), (e) => {
    assert.equal(e.kind, 'unauthorized');
    assert.equal(e.retryable, false);
    assert.ok(e.message.includes(s.url) && e.message.includes('sim-base'), e.message);
  });
  const wrong = new LlmClient({ endpoint: endpoint(s, { apiKeyEnv: 'R4EC_TEST_KEY' }), env: { R4EC_TEST_KEY: 'wrong-key-987654' } });
  await rejectsWith(wrong.chat({ messages: buildPrompt(specFor(KIND)), seed: 0 }), (e) => {
    assert.equal(e.kind, 'unauthorized');
    assert.ok(!e.message.includes('wrong-key-987654') && !JSON.stringify(e).includes('wrong-key-987654'));
  });
  const right = new LlmClient({ endpoint: endpoint(s, { apiKeyEnv: 'R4EC_TEST_KEY' }), env: { R4EC_TEST_KEY: 'right-key-123456' } });
  assert.equal((await ask(right, KIND, 0)).status, 'ok');
  assert.throws(
    () => new LlmClient({ endpoint: endpoint(s, { apiKeyEnv: 'R4EC_MISSING_KEY' }), env: {} }),
    (e: unknown) => e instanceof LlmError && e.kind === 'unauthorized' && e.message.includes('R4EC_MISSING_KEY'),
  );
});

test('an unknown model is a non-retryable 404; adapters loaded through the vLLM endpoints are served, then gone', async () => {
  const s = await sim();
  const client = new LlmClient({ endpoint: endpoint(s) });
  const msgs = buildPrompt(specFor(KIND));
  await rejectsWith(client.chat({ messages: msgs, seed: 0, model: 'user-actor' }), (e) => {
    assert.equal(e.kind, 'not_found');
    assert.equal(e.retryable, false);
    assert.ok(e.message.includes('user-actor') && e.message.includes(s.url));
  });
  assert.deepEqual(await loadLoraAdapter({ baseUrl: `${s.url}/v1`, name: 'user-actor', path: '/adapters/user-actor' }), { alreadyLoaded: false });
  assert.deepEqual(await loadLoraAdapter({ baseUrl: `${s.url}/v1`, name: 'user-actor', path: '/adapters/user-actor' }), { alreadyLoaded: true });
  const models = (await (await fetch(`${s.url}/v1/models`)).json()) as { data: { id: string; owned_by: string }[] };
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['sim-base', 'user-actor']);
  assert.ok(models.data.every((m) => m.owned_by === 'r4ec-simulator'));
  assert.ok((await client.chat({ messages: msgs, seed: 0, model: 'user-actor' })).text.includes('<User Preference>'));
  assert.deepEqual(await unloadLoraAdapter({ baseUrl: `${s.url}/v1`, name: 'user-actor' }), { wasLoaded: true });
  assert.deepEqual(await unloadLoraAdapter({ baseUrl: `${s.url}/v1`, name: 'user-actor' }), { wasLoaded: false });
  await rejectsWith(client.chat({ messages: msgs, seed: 0, model: 'user-actor' }), (e) => assert.equal(e.kind, 'not_found'));
});

test('per-endpoint limits: concurrency bound, requests-per-window bound, pause after Retry-After', async () => {
  const s = await sim({ faults: { latencyMs: 60 } });
  const limiter = new EndpointLimiter({ concurrency: 2 });
  const client = new LlmClient({ endpoint: endpoint(s), limiter });
  await Promise.all(Array.from({ length: 8 }, (_, i) => client.chat({ messages: buildPrompt(specFor(KIND)), seed: i })));
  assert.equal(limiter.maxActive, 2);

  const rate = new EndpointLimiter({ concurrency: 10, requestsPerMinute: 2, windowMs: 300 });
  const t0 = Date.now();
  const starts: number[] = [];
  await Promise.all(Array.from({ length: 4 }, () => rate.run(async () => void starts.push(Date.now() - t0))));
  starts.sort((a, b) => a - b);
  assert.ok(starts[1]! < 150 && starts[2]! >= 290, `starts ${starts.join(',')}`);

  const paused = new EndpointLimiter({ concurrency: 4 });
  paused.pause(200);
  const t1 = Date.now();
  await paused.run(async () => {});
  assert.ok(Date.now() - t1 >= 190);
});

test('an answer is in the cache before its endpoint slot is free; usage records of concurrent calls share objects and all count', async () => {
  const s = await sim();
  const dir = tmp();
  const store = new LocalStore(join(dir, 'store'));
  // A slow store: every cache entry takes 80 ms to write.
  const slow = Object.create(store) as LocalStore;
  slow.putIfAbsent = async (key, data) => {
    await new Promise((r) => setTimeout(r, 80));
    return store.putIfAbsent(key, data);
  };
  const cache = new LlmCache(slow);
  const ledger = new UsageLedger(store);
  const limiter = new EndpointLimiter({ concurrency: 1 });
  const client = new LlmClient({ endpoint: endpoint(s), cache, ledger, limiter });
  const meta = { runId: 'grouped', stage: 'refine', role: 'actor' };
  // With one slot, a request may start only once the previous answer is stored in the cache.
  const cachedAtSend: number[] = [];
  const entries = async () => (await store.list('llm-cache/')).length;
  const results = await Promise.all(
    Array.from({ length: 4 }, async (_, i) => {
      const r = await ask(client, KIND, 100 + i, { meta });
      return r;
    }),
  );
  for (const r of results) assert.ok(r.status === 'ok' && !r.cacheHit);
  const requests = s.requestLog.slice(-4);
  assert.equal(requests.length, 4);
  assert.equal(await entries(), 4);
  // Each request after the first was sent after the earlier ones' answers were cached: the slot
  // was held through the 80 ms write, so consecutive sends are at least that far apart.
  const sends = requests.map((e) => Date.parse(e.at)).sort((a, b) => a - b);
  for (let i = 1; i < sends.length; i++) cachedAtSend.push(sends[i]! - sends[i - 1]!);
  assert.ok(cachedAtSend.every((d) => d >= 75), `gaps between sends ${cachedAtSend.join(',')} ms`);

  // Sixteen concurrent asks: every usage record stored, in fewer objects than records.
  await Promise.all(Array.from({ length: 16 }, (_, i) => ask(new LlmClient({ endpoint: endpoint(s), cache: new LlmCache(store), ledger }), KIND, 200 + i, { meta })));
  const sum = await ledger.summarize('grouped');
  assert.equal(sum.total.calls, 20);
  const objects = await store.list('llm-usage/grouped/');
  assert.ok(objects.length < 20, `${objects.length} usage objects for 20 records`);
  // Records written one object per record (before grouping) are read alongside the grouped ones.
  const old = { at: new Date().toISOString(), runId: 'grouped', stage: 'refine', role: 'actor', model: 'sim-base', requestHash: 'h', cacheHit: true, outcome: 'ok', promptTokens: 0, completionTokens: 0, latencyMs: 0 };
  await store.put('llm-usage/grouped/000000000-aaaaaaaaaaaa.json', JSON.stringify(old));
  const again = await ledger.summarize('grouped');
  assert.equal(again.total.calls, 20);
  assert.equal(again.total.cacheHits, 1);
});

test('Retry-After: seconds, HTTP date, and retry-after-ms', () => {
  assert.equal(parseRetryAfter({ 'retry-after': '2' }), 2000);
  assert.equal(parseRetryAfter({ 'retry-after': '1', 'retry-after-ms': '250' }), 250);
  assert.equal(parseRetryAfter({ 'retry-after': new Date(10_000).toUTCString() }, 4_000), 6_000);
  assert.equal(parseRetryAfter({ 'retry-after': 'soon' }), undefined);
  assert.equal(parseRetryAfter(new Headers({ 'retry-after': '3' })), 3000);
});
