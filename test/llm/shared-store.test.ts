// The answer cache and the usage ledger in the shared artifact store, on both backends (the local
// directory and S3 on a real versitygw server): two workers with separate state (separate store
// objects and local caches, as on two machines) share every completed call; the first answer of a
// request stands; usage records from every worker add up; an entry the parser rejects is replaced.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EndpointConfig } from '../../config/schema';
import { LlmCache } from '../../core/llm/cache';
import { LlmClient, type AskResult } from '../../core/llm/client';
import { FormatError, correctionTurn, parseAnswer, type ParsedAnswer } from '../../core/llm/parse';
import { UsageLedger } from '../../core/llm/usage';
import { buildPrompt } from '../../core/prompts/builders';
import type { PromptKind } from '../../core/prompts/tags';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import { LocalStore, type ArtifactStore } from '../../core/store';
import { startTestS3, type TestS3 } from '../helpers/s3';
import { CATALOG, specFor } from '../sim/fixtures';

const work = mkdtempSync(join(tmpdir(), 'r4ec-llm-shared-'));
let s3: TestS3;
let sim: RunningSimulator;
before(async () => {
  s3 = await startTestS3();
  sim = await startSimulator({ catalog: CATALOG, models: ['sim-base'], seed: 5 });
});
after(async () => {
  await sim.close();
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
});

const KIND: PromptKind = { domain: 'user', step: 'reason', variant: 'construct', medium: 'movie' };
const endpoint: () => EndpointConfig = () => ({ baseUrl: `${sim.url}/v1`, model: 'sim-base', concurrency: 8, timeoutMs: 10_000, temperature: 0.7, topP: 1, maxTokens: 512 });

function ask(client: LlmClient, seed: number, runId: string, parse: (t: string) => ParsedAnswer = (t) => parseAnswer(KIND, t)): Promise<AskResult<ParsedAnswer>> {
  return client.ask({
    messages: buildPrompt(specFor(KIND)),
    seed,
    parse,
    correction: (e) => correctionTurn(KIND, e),
    formatRetries: 0,
    meta: { runId, stage: 'construct', role: 'teacher' },
  });
}

/** One "machine": its own store object (for S3: its own local cache dir), cache and ledger. */
function worker(store: ArtifactStore) {
  const cache = new LlmCache(store);
  const ledger = new UsageLedger(store);
  return { cache, ledger, client: new LlmClient({ endpoint: endpoint(), cache, ledger }) };
}

const backends: Array<{ name: string; pair: () => Promise<[ArtifactStore, ArtifactStore]> }> = [
  {
    name: 'local',
    async pair() {
      const root = mkdtempSync(join(work, 'store-'));
      return [new LocalStore(root), new LocalStore(root)];
    },
  },
  {
    name: 's3',
    async pair() {
      const a = await s3.store();
      return [a, await s3.store({ bucket: a.options.bucket })];
    },
  },
];

for (const backend of backends) {
  describe(`LLM cache and usage in the ${backend.name} store`, () => {
    test('a call completed by one worker is a cache hit on another; usage records of both add up', async () => {
      const [sa, sb] = await backend.pair();
      const a = worker(sa);
      const b = worker(sb);
      const sent = sim.stats().requests;
      const first = await ask(a.client, 1, 'run-x');
      const second = await ask(b.client, 1, 'run-x');
      assert.ok(first.status === 'ok' && second.status === 'ok');
      assert.equal(first.cacheHit, false);
      assert.equal(second.cacheHit, true, 'the other worker finds the answer in the shared store');
      assert.equal(second.text, first.text);
      assert.equal(sim.stats().requests - sent, 1, 'one request for two calls');
      await ask(b.client, 2, 'run-x');
      const summary = await new UsageLedger(sa).summarize('run-x');
      assert.deepEqual([summary.total.calls, summary.total.cacheHits], [2, 1]);
      assert.ok(summary.total.promptTokens > 0);
      // Calls one after another: one object each (nothing waited to be grouped), under the run's own
      // prefix, nothing under the state dir.
      assert.equal((await sa.list('llm-usage/run-x/')).length, 3);
      assert.equal((await sa.list('llm-cache/')).length, 2);
    });

    test('the same call completed by two workers at once: both answers are valid, the first entry stands', async () => {
      const [sa, sb] = await backend.pair();
      const a = worker(sa);
      const b = worker(sb);
      const [ra, rb] = await Promise.all([ask(a.client, 7, 'run-y'), ask(b.client, 7, 'run-y')]);
      assert.ok(ra.status === 'ok' && rb.status === 'ok');
      const entry = await new LlmCache(sa).peek(ra.requestHash);
      assert.ok(entry && [ra.text, rb.text].includes(entry.text));
      // A later caller anywhere gets that one entry.
      const later = await ask(worker(sb).client, 7, 'run-y');
      assert.ok(later.status === 'ok' && later.cacheHit && later.text === entry.text);
    });

    test('an entry the parser no longer accepts is asked again and replaced; another worker\'s entry is never overwritten by a stranger', async () => {
      const [sa, sb] = await backend.pair();
      const a = worker(sa);
      const first = await ask(a.client, 11, 'run-z');
      assert.ok(first.status === 'ok');
      // Another worker puts a different answer for the same request after the fact: the entry stands.
      await new LlmCache(sb).put(first.requestHash, 'sim-base', 'a different answer', { promptTokens: 1, completionTokens: 1 });
      assert.equal((await new LlmCache(sa).peek(first.requestHash))?.text, first.text);
      // A stricter parser rejects the cached text: the call is sent again and its answer replaces it.
      const sent = sim.stats().requests;
      let rejectOnce = true;
      const strict = (t: string) => {
        if (rejectOnce) {
          rejectOnce = false;
          throw new FormatError('missing_verdict', 'rejected by the new parser');
        }
        return parseAnswer(KIND, t);
      };
      const again = await ask(worker(sb).client, 11, 'run-z', strict);
      assert.ok(again.status === 'ok' && !again.cacheHit);
      assert.equal(sim.stats().requests - sent, 1);
      assert.equal((await new LlmCache(sa).peek(first.requestHash))?.text, again.text);
    });
  });
}
