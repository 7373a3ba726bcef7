// callLlm in an activity context: parsed answers, cache hits, failed_format as a result, and
// transport errors as Temporal failures (retryable with Retry-After, or non-retryable).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createLlmActivities, type CallLlmInput, type CallLlmOutput, type LlmActivityDeps } from '../../activities/llm';
import { R4ecConfigSchema } from '../../config/schema';
import { LlmRegistry } from '../../core/llm/registry';
import { buildPrompt } from '../../core/prompts/builders';
import { LocalStore } from '../../core/store';
import type { SimulatorOptions } from '../../core/sim/server';
import { simulatorHarness } from '../helpers/simulator';
import { CATALOG, specFor } from '../sim/fixtures';

const harness = simulatorHarness({ catalog: CATALOG, models: ['r4ec-sim'] });

async function setup(faults: SimulatorOptions['faults'] = {}, llm: object = {}) {
  const sim = await harness.start({ faults });
  const stateDir = harness.tmp();
  const config = R4ecConfigSchema.parse({ llm });
  const registry = new LlmRegistry({ llm: config.llm, stateDir, env: {}, simulatorUrl: sim.url });
  const deps: LlmActivityDeps = { store: new LocalStore(join(stateDir, 'store')), stateDir, env: {}, llm: registry };
  return { sim, registry, acts: createLlmActivities(deps), stateDir };
}

// Expected failures are logged by the mock at WARN: keep the test output readable.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mockEnv = () => new MockActivityEnvironment(undefined, { logger: quiet });
type Acts = ReturnType<typeof createLlmActivities>;
const call = (acts: Acts, inp: CallLlmInput): Promise<CallLlmOutput> => mockEnv().run(acts.callLlm, inp) as Promise<CallLlmOutput>;

const input = (over: Partial<CallLlmInput> = {}): CallLlmInput => ({
  runId: 'r1',
  stage: 'construct',
  role: 'teacher',
  domain: 'user',
  entityId: '42',
  prompt: specFor({ domain: 'user', step: 'reason', variant: 'construct', medium: 'movie' }),
  seed: 0,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a failure');
}

test('callLlm returns the parsed answer, then a cache hit; usage lands in the run ledger', async () => {
  const { acts, registry, sim } = await setup();
  const a = await call(acts, input());
  assert.equal(a.status, 'ok');
  assert.ok(a.status === 'ok' && a.answer.type === 'verdict' && a.cacheHit === false && a.model === 'r4ec-sim');
  const b = await call(acts, input());
  assert.ok(b.status === 'ok' && b.cacheHit && a.status === 'ok' && b.requestHash === a.requestHash);
  assert.equal(sim.stats().requests, 1);
  // Ready messages with their kind work the same way.
  const c = await call(acts, input({ prompt: undefined, messages: buildPrompt(input().prompt!), kind: { domain: 'user', step: 'reason', variant: 'construct', medium: 'movie' } }));
  assert.ok(c.status === 'ok' && c.cacheHit);
  const sum = await registry.ledger.summarize('r1');
  assert.deepEqual({ calls: sum.total.calls, hits: sum.total.cacheHits }, { calls: 1, hits: 2 });
  assert.equal(sum.byStageRole['construct/teacher']!.calls, 1);
});

test('an answer that stays unparsable is a failed_format result, not an exception', async () => {
  const { acts, sim } = await setup({ malformedRate: 1 }, { formatRetries: 1 });
  const r = await call(acts, input());
  assert.equal(r.status, 'failed_format');
  assert.ok(r.status === 'failed_format' && r.formatAttempts === 2 && r.error.length > 0);
  assert.equal(sim.stats().malformed, 2);
});

test('429 becomes a retryable failure whose next retry waits for Retry-After; 500 is retryable', async () => {
  const { acts } = await setup({ rateLimitRate: 1, retryAfterSeconds: 2 });
  const f = await failure(call(acts, input()));
  assert.equal(f.type, 'LlmTransportError');
  assert.equal(f.nonRetryable, false);
  assert.equal(f.nextRetryDelay, 2000);
  const s = await setup({ serverErrorRate: 1 });
  const g = await failure(call(s.acts, input()));
  assert.equal(g.type, 'LlmTransportError');
  assert.equal(g.nonRetryable, false);
});

test('an unknown model is non-retryable and names endpoint and model; bad input is non-retryable', async () => {
  const { acts, sim } = await setup();
  const f = await failure(call(acts, input({ model: 'item-reflection' })));
  assert.equal(f.type, 'LlmRequestRejected');
  assert.equal(f.nonRetryable, true);
  assert.ok(f.message.includes('item-reflection') && f.message.includes(sim.url));
  const bad = await failure(call(acts, input({ seed: 0.5 as number })));
  assert.equal(bad.type, 'InvalidActivityInput');
  const both = await failure(call(acts, input({ messages: [{ role: 'user', content: 'x' }] })));
  assert.equal(both.type, 'InvalidActivityInput');
  const missing = await failure(
    call(acts, input({ prompt: { domain: 'user', step: 'refine', variant: 'inference', medium: 'movie', history: [] } })),
  );
  assert.equal(missing.type, 'InvalidPrompt');
});

test('a worker without a registry, or a role without endpoint or simulator, fails clearly', async () => {
  const stateDir = harness.tmp();
  const bare = createLlmActivities({ store: new LocalStore(join(stateDir, 's')), stateDir, env: {} });
  const f = await failure(call(bare, input()));
  assert.equal(f.type, 'LlmNotConfigured');
  const config = R4ecConfigSchema.parse({});
  const noSim = createLlmActivities({ store: new LocalStore(join(stateDir, 's')), stateDir, env: {}, llm: new LlmRegistry({ llm: config.llm, stateDir, env: {} }) });
  const g = await failure(call(noSim, input()));
  assert.equal(g.type, 'LlmNotConfigured');
  assert.ok(g.message.includes('llm.teacher'));
});
