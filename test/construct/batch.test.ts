// A batch of construction inferences without Temporal (core/construct/batch.ts): every unit of the
// range gets its record; a second run of the same range sends nothing and counts the same outcomes
// (a retried batch skips what is recorded); a batch cut off mid-way and run again repeats at most
// the calls that were in flight; failed inferences are handed back for their own workflows; a 401
// rejects the batch after the requests in flight. The transport retry budget runs in-process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DatasetSchema, R4ecConfigSchema, type R4ecConfigInput } from '../../config/schema';
import { planConstruction } from '../../core/construct';
import { runConstructBatch, type ConstructBatchInput } from '../../core/construct/batch';
import { inferenceKey } from '../../core/construct/work';
import { ingest } from '../../core/data';
import { retryDelayMs, withTransportRetries } from '../../core/llm/ask-prompt';
import { LlmError } from '../../core/llm/errors';
import { LlmRegistry } from '../../core/llm/registry';
import { synthesizeDataset } from '../../core/data/synth';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import { LocalStore } from '../../core/store';
import { runBatchUnits } from '../../core/stage/batch';

let dir: string;
let store: LocalStore;
let data: { key: string; contentHash: string };
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-construct-batch-'));
  await synthesizeDataset({ outDir: join(dir, 'raw'), seed: 4, users: 30, items: 60 });
  store = new LocalStore(join(dir, 'store'));
  const r = await ingest({ store, dataset: DatasetSchema.parse({ kind: 'synthetic' }), dir: join(dir, 'raw') });
  data = { key: r.key, contentHash: r.contentHash };
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function setup(name: string, llm: R4ecConfigInput['llm'], simOpts: { apiKey?: string; latencyMs?: number } = {}) {
  const config = R4ecConfigSchema.parse({ construct: { sampleFraction: 1 }, llm: { ...llm, simulator: { model: name, retryAfterSeconds: 0.01, ...llm?.simulator } } });
  const s = config.llm.simulator;
  const sim = await startSimulator({
    catalog: await store.localPath(`${data.key}/meta.json`),
    models: [name],
    faults: { latencyMs: simOpts.latencyMs ?? 0, malformedRate: s.malformedRate, rateLimitRate: s.rateLimitRate, serverErrorRate: s.serverErrorRate, retryAfterSeconds: s.retryAfterSeconds },
    ...(simOpts.apiKey ? { apiKey: simOpts.apiKey } : {}),
  });
  const cfg = simOpts.apiKey ? R4ecConfigSchema.parse({ ...config, llm: { ...config.llm, teacher: { baseUrl: `${sim.url}/v1`, model: name, apiKeyEnv: 'K', concurrency: 2 } } }) : config;
  const registry = new LlmRegistry({ llm: cfg.llm, stateDir: join(dir, name), env: { K: 'wrong' }, simulatorUrl: sim.url, simulatorConcurrency: 4 });
  const plan = await planConstruction(store, { domain: 'user', construct: cfg.construct, llm: cfg.llm, ingest: data, lookupOnly: false });
  assert.equal(plan.status, 'todo');
  const work = plan.status === 'todo' ? plan.work : undefined!;
  const input: ConstructBatchInput = { runId: name, domain: 'user', workKey: work.workKey, datasetKey: data.key, offset: 0, limit: Math.min(16, work.units), inferencesPerSample: 2, formatRetries: cfg.llm.formatRetries, transport: cfg.llm.transport };
  return { sim, registry, input, llm: { client: (role: 'teacher' | 'actor' | 'reflection') => registry.client(role) } };
}

const ok = (sim: RunningSimulator) => sim.requestLog.filter((e) => e.outcome === 'ok').length;

test('a batch records every unit; run again it sends nothing and counts the same; cut off mid-way it repeats at most the calls in flight', async () => {
  const { sim, input, llm } = await setup('sim-batch-a', { formatRetries: 2, transport: { maxAttempts: 6, initialIntervalMs: 5 }, simulator: { malformedRate: 0.1, rateLimitRate: 0.1 } }, { latencyMs: 30 });
  try {
    // Cut off: the activity is cancelled once a few units are recorded.
    const cancel = new AbortController();
    let recorded = 0;
    await assert.rejects(
      runConstructBatch(store, llm, input, {
        execution: 'batch/run-1/1',
        signal: cancel.signal,
        progress: (n) => {
          recorded = n;
          if (n === 4) cancel.abort(new Error('worker killed'));
        },
      }),
    );
    const inFlightAtCut = sim.requestLog.length;
    assert.ok(recorded >= 4 && recorded < input.limit, `cut off mid-way (${recorded} of ${input.limit})`);
    const first = await runConstructBatch(store, llm, input, { execution: 'batch/run-1/1' });
    const total = Object.values(first.outcomes).reduce((a, b) => a + (b ?? 0), 0) + first.failed.length;
    assert.equal(total, input.limit, 'every unit of the range has an outcome');
    for (let u = 0; u < input.limit; u++) assert.ok(await store.exists(inferenceKey(input.workKey, Math.floor(u / 2), u % 2)), `unit ${u} recorded`);
    const hashes = sim.requestLog.filter((e) => e.outcome === 'ok').map((e) => e.hash);
    const repeated = hashes.length - new Set(hashes).size;
    assert.ok(repeated <= 4, `${repeated} completed calls repeated; at most the 4 in flight at the cut may be (${inFlightAtCut} requests before it)`);
    assert.ok(sim.requestLog.some((e) => e.outcome === 'malformed') && sim.requestLog.some((e) => e.outcome === 'rate_limited'), 'faults were retried in-process');

    const before = sim.requestLog.length;
    const again = await runConstructBatch(store, llm, input, { execution: 'batch/run-1/1' });
    assert.equal(sim.requestLog.length, before, 'a recorded range sends nothing');
    assert.deepEqual(again.outcomes, first.outcomes);
    assert.ok(ok(sim) > 0);
  } finally {
    await sim.close();
  }
});

test('failed inferences are handed back (and again when the range is run again), with their plan entry', async () => {
  const { sim, input, llm } = await setup('sim-batch-b', { formatRetries: 0, transport: { maxAttempts: 1 }, simulator: { malformedRate: 0.5 } });
  try {
    const r = await runConstructBatch(store, llm, input, { execution: 'batch/run-2/1' });
    assert.ok(r.failed.length > 0 && r.failed.every((u) => u.failedInBatch === 'failed_format' && u.entry.entityId.length > 0), JSON.stringify(r.failed.map((u) => u.failedInBatch)));
    const again = await runConstructBatch(store, llm, input, { execution: 'batch/run-2/1' });
    assert.deepEqual(again.failed.map((u) => [u.planIndex, u.k]), r.failed.map((u) => [u.planIndex, u.k]), 'a failure a batch recorded still needs its workflow');
    assert.deepEqual(again.usage.calls, 0);
  } finally {
    await sim.close();
  }
});

test('a 401 rejects the batch with the endpoint message after the requests in flight, not one per unit', async () => {
  const { sim, input, llm } = await setup('sim-batch-c', {}, { apiKey: 'right' });
  try {
    await assert.rejects(runConstructBatch(store, llm, input, { execution: 'batch/run-3/1' }), (e: unknown) => e instanceof LlmError && e.code === 'LlmRequestRejected' && /answered 401/.test(e.message));
    const sent = sim.requestLog.filter((e) => e.outcome === 'unauthorized').length;
    assert.ok(sent >= 1 && sent <= 2, `${sent} requests for ${input.limit} units (endpoint concurrency 2)`);
  } finally {
    await sim.close();
  }
});

test('transport retries in-process: the retry budget, the backoff, Retry-After; a rejected request at once', async () => {
  const policy = { maxAttempts: 3, initialIntervalMs: 10, backoffCoefficient: 2, maximumIntervalMs: 15 };
  assert.deepEqual([1, 2, 3].map((a) => retryDelayMs(policy, a, undefined)), [10, 15, 15]);
  assert.equal(retryDelayMs(policy, 1, 70), 70);
  const err = (kind: 'rate_limited' | 'unauthorized') => new LlmError({ kind, message: kind, endpoint: 'e', model: 'm' });
  let n = 0;
  await assert.rejects(withTransportRetries(policy, async () => { n++; throw err('rate_limited'); }), /rate_limited/);
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(withTransportRetries(policy, async () => { n++; throw err('unauthorized'); }), /unauthorized/);
  assert.equal(n, 1);
  n = 0;
  assert.equal(await withTransportRetries(policy, async () => (++n < 3 ? Promise.reject(err('rate_limited')) : 'ok')), 'ok');
});

test('runBatchUnits: results in order; the first error (or stop) aborts the others and is the one thrown', async () => {
  assert.deepEqual(await runBatchUnits([1, 2, 3], { execution: 'x' }, async (u) => u * 2), [2, 4, 6]);
  const aborted: number[] = [];
  await assert.rejects(
    runBatchUnits([1, 2, 3], { execution: 'x' }, (u, signal, stop) =>
      new Promise<number>((res, rej) => {
        if (u === 2) {
          const e = new Error('first');
          stop(e);
          return rej(e);
        }
        const onAbort = () => {
          aborted.push(u);
          rej(new Error(`aborted ${u}`));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort);
        setTimeout(() => res(u), 1000);
      }),
    ),
    /^Error: first$/,
  );
  assert.deepEqual(aborted.sort(), [1, 3]);
});
