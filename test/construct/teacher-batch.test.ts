// The construct stage with the teacher on the Batch API (`llm.teacher.batch.enabled`), on a real dev
// server with in-process workers and the simulator over HTTP: the same outcome counts as the
// synchronous run of the same seed (5 % malformed answers, the first batch expiring half-done) with
// no synchronous teacher request; a call cap stops the batches at it exactly (skipped_call_cap) and
// a rerun of the same run id with a higher cap asks only the rest; a cancelled stage cancels its
// open batch.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ConstructReportSchema, REPORT_FILE } from '../../core/construct';
import { LlmRegistry } from '../../core/llm/registry';
import type { SimulatorOptions } from '../../core/sim/server';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
let data: Artifact;
before(async () => {
  t = await startTestTemporal();
  data = (await ingestSynthetic(t.store, { users: 36, items: 60, seed: 5 })).ingest;
});
after(async () => {
  await t?.close();
});

const SIM = 'sim-teacher-batch';

/** A config whose teacher is a simulator at `url` (so its answers are priced and batched like a real endpoint's). */
function configFor(url: string, batch: boolean, extra: { cap?: { maxCalls: number } } = {}) {
  return testConfig({
    construct: { sampleFraction: 0.5, batchSize: 16 },
    llm: {
      teacher: { baseUrl: `${url}/v1`, model: SIM, batch: { enabled: batch, pollIntervalSeconds: 0.1 } },
      formatRetries: 2,
      transport: { maxAttempts: 4, initialIntervalMs: 50 },
      simulator: { model: SIM, malformedRate: 0.05 },
      ...(extra.cap ? { cap: extra.cap } : {}),
    },
    queues: { llm: { slots: 8 } },
  });
}

type Sim = Awaited<ReturnType<typeof simulatorFor>>;

async function construct(runId: string, simOpts: Partial<SimulatorOptions>, batch: boolean, opts: { cap?: { maxCalls: number }; dir?: string; sim?: Sim } = {}) {
  // Each run asks its own simulator (fresh occurrence counts: the same seed draws the same faults) with
  // its own answer cache, unless it continues a run on the same endpoint (`sim`).
  const base = configFor('http://127.0.0.1:1', batch);
  const s = opts.sim ?? (await simulatorFor(t.store, data.key, base, opts.dir ?? `${t.stateDir}/${runId}`, simOpts));
  const config = configFor(s.sim.url, batch, opts.cap ? { cap: opts.cap } : {});
  try {
    const registry = new LlmRegistry({ llm: config.llm, stateDir: opts.dir ?? `${t.stateDir}/${runId}`, env: {}, simulatorUrl: s.sim.url, simulatorConcurrency: 8 });
    const result = await withWorkers(t, { queues: ['cpu', 'llm'], config, deps: { llm: registry } as object }, async ({ config }) => {
      const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
      return t.client.workflow.execute<(i: DomainStageInput) => Promise<StageResult<ConstructSummary>>>('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/user`, args: [input] });
    });
    return { result, log: [...s.sim.requestLog] };
  } finally {
    if (!opts.sim) await s.close();
  }
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

test('batch path: the same outcome counts as the synchronous run of the same seed (5 % malformed, one batch expired), no synchronous teacher request', async () => {
  const sync = await construct(`tb-sync-${Date.now()}`, {}, false);
  const batch = await construct(`tb-batch-${Date.now()}`, { batch: { completionDelayMs: 150, expireBatches: [1], expiredFraction: 0.5 } }, true);

  assert.equal(batch.result.skipped, false);
  assert.deepEqual(batch.result.summary.outcomes, sync.result.summary.outcomes, 'the same outcomes as the synchronous run');
  assert.equal(sum(batch.result.summary.outcomes), batch.result.summary.sampled * 2);
  assert.ok(batch.result.summary.outcomes.kept_reason > 0 && batch.result.summary.outcomes.skipped_call_cap === 0);

  const chat = batch.log.filter((e) => e.path === '/v1/chat/completions');
  assert.equal(chat.length, 0, `no synchronous teacher request (${chat.length} sent)`);
  const lines = batch.log.filter((e) => e.path === '/v1/batches' && e.customId !== undefined);
  assert.ok(lines.some((e) => e.outcome === 'malformed'), 'some batch answers were malformed (and re-asked)');
  assert.ok(lines.some((e) => e.outcome === 'ok'));
  // The same requests were answered: the synchronous path's exact requests, as batch lines.
  const answered = (log: typeof lines) => [...new Set(log.filter((e) => e.outcome === 'ok').map((e) => e.hash))].sort();
  assert.deepEqual(answered(lines), answered(sync.log.filter((e) => e.path === '/v1/chat/completions')), 'the batch path got the answers the synchronous path got');
  const batchAnswers = lines.filter((e) => e.outcome === 'ok').length;
  // The expired batch's unanswered lines went out again in a later batch.
  const batchIds = [...new Set(lines.map((e) => e.batchId))];
  assert.ok(batchIds.length >= 3, `several rounds of batches (${batchIds.length})`);

  const report = ConstructReportSchema.parse(JSON.parse((await t.store.get(`${batch.result.artifact.key}/${REPORT_FILE}`)).toString()));
  assert.deepEqual(report.outcomes, batch.result.summary.outcomes);
  assert.equal(batch.result.summary.llm.calls, batchAnswers + lines.filter((e) => e.outcome === 'malformed').length, 'every answered line is a call');
});

test('batch path with a call cap: stops exactly at it (skipped_call_cap), a rerun of the same run id with a higher cap asks only the rest', async () => {
  const runId = `tb-cap-${Date.now()}`;
  const dir = `${t.stateDir}/${runId}`;
  // The same endpoint for both runs (its URL is part of the teacher's identity, and so of the stage key).
  const sim = await simulatorFor(t.store, data.key, configFor('http://127.0.0.1:1', true), dir, { batch: { completionDelayMs: 50 } });
  try {
    const first = await construct(runId, {}, true, { cap: { maxCalls: 30 }, dir, sim });
    const sent1 = first.log.filter((e) => e.path === '/v1/batches' && e.customId !== undefined && e.outcome !== 'api');
    assert.ok(sent1.length <= 30, `${sent1.length} requests sent with a cap of 30`);
    assert.ok(sent1.length >= 25, `the cap was used (${sent1.length})`);
    const skipped = first.result.summary.outcomes.skipped_call_cap;
    assert.ok(skipped > 0, 'units skipped at the cap');
    assert.equal(sum(first.result.summary.outcomes), first.result.summary.sampled * 2);

    const second = await construct(runId, {}, true, { cap: { maxCalls: 100_000 }, dir, sim });
    assert.equal(second.result.summary.outcomes.skipped_call_cap, 0, 'the higher cap asked every skipped unit');
    assert.equal(sum(second.result.summary.outcomes), first.result.summary.sampled * 2);
    assert.equal(second.result.artifact.key, first.result.artifact.key, 'the same stage output, completed');
    const sent2 = second.log.slice(first.log.length).filter((e) => e.path === '/v1/batches' && e.customId !== undefined);
    assert.ok(sent2.length > 0, 'the rerun asked the skipped inferences');
    const asked1 = new Set(sent1.filter((e) => e.outcome === 'ok').map((e) => e.hash));
    assert.equal(sent2.filter((e) => asked1.has(e.hash)).length, 0, 'nothing answered in the first run is asked again');
  } finally {
    await sim.close();
  }
});

test('cancelling the stage cancels its open batch', async () => {
  const runId = `tb-cancel-${Date.now()}`;
  const base = configFor('http://127.0.0.1:1', true);
  const s = await simulatorFor(t.store, data.key, base, `${t.stateDir}/${runId}`, { batch: { completionDelayMs: 60_000 } });
  const config = configFor(s.sim.url, true);
  const registry = new LlmRegistry({ llm: config.llm, stateDir: `${t.stateDir}/${runId}`, env: {}, simulatorUrl: s.sim.url, simulatorConcurrency: 8 });
  try {
    await withWorkers(t, { queues: ['cpu', 'llm'], config, deps: { llm: registry } as object }, async ({ config }) => {
      const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
      const h = await t.client.workflow.start('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/user`, args: [input] });
      const created = () => s.sim.requestLog.filter((e) => e.path === '/v1/batches' && e.method === 'POST').length;
      for (let i = 0; i < 200 && created() === 0; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(created(), 1, 'one batch created');
      await h.cancel();
      await assert.rejects(h.result(), (e: unknown) => e instanceof WorkflowFailedError);
      const cancels = s.sim.requestLog.filter((e) => /\/v1\/batches\/[^/]+\/cancel$/.test(e.path));
      assert.equal(cancels.length, 1, 'the open batch was cancelled');
    });
  } finally {
    await s.close();
  }
});
