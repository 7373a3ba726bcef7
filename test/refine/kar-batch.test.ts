// refine's kar comparison set on the teacher's Batch API (`llm.teacher.batch.enabled`), on a real dev
// server with the simulator over HTTP, in both execution modes: the same kar (and r2ec, r4ec)
// knowledge as the synchronous run of the same seed (malformed kar answers re-asked in a later
// batch, the first batch expiring half-done), no synchronous request to the teacher, and a kar
// request that failed for good in the batches fails its entity without being asked synchronously.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Domain } from '../../config/names';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../../config/schema';
import { knowledgeFileName } from '../../core/encode/stage';
import { ENTITIES_FILE, EntityRecordSchema } from '../../core/refine';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type SimLogEntry, type SimulatorOptions } from '../../core/sim/server';
import type { StageResult } from '../../workflows/stage-types';
import type { RefineStageSummary } from '../../workflows/refine';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { refineConfig } from './fixtures';

let t: TestTemporal;
let data: { ingest: Artifact };
before(async () => {
  t = await startTestTemporal();
  data = await ingestSynthetic(t.store, { users: 24, items: 60, seed: 9 });
});
after(async () => {
  await t?.close();
});

const SIM = 'sim-kar-batch';
const TEACHER = 'sim-kar-batch-teacher';
const DOMAIN: Domain = 'user';

function configFor(url: string, mode: EntityWorkflows, batch: boolean) {
  return refineConfig({
    llm: {
      // The teacher is its own model on the simulator's endpoint, so kar is a request of its own.
      teacher: { baseUrl: `${url}/v1`, model: TEACHER, batch: { enabled: batch, pollIntervalSeconds: 0.1 } },
      formatRetries: 2,
      transport: { maxAttempts: 3 },
      simulator: { model: SIM, malformedRate: 0.1 },
    },
    refine: { maxIterations: 1, activeUserMinInteractions: 0, entityWorkflows: mode, batchSize: 8, failureLimit: 1 },
    queues: { llm: { slots: 8 } },
  });
}

async function refine(runId: string, mode: EntityWorkflows, batch: boolean, simOpts: Partial<SimulatorOptions> = {}, malformedRate = 0.1) {
  // Each run asks a fresh simulator (the same seed draws the same faults) with its own answer cache.
  const catalog = await t.store.localPath(`${data.ingest.key}/meta.json`);
  const sim = await startSimulator({ catalog, models: [SIM, TEACHER], seed: 0, faults: { latencyMs: 0, malformedRate, rateLimitRate: 0, serverErrorRate: 0, retryAfterSeconds: 0.01 }, ...simOpts });
  try {
    const config = configFor(sim.url, mode, batch);
    const registry = new LlmRegistry({ llm: config.llm, stateDir: `${t.stateDir}/${runId}`, env: {}, simulatorUrl: sim.url, simulatorConcurrency: 8 });
    const result = await withWorkers(t, { queues: ['cpu', 'llm'], config, deps: { llm: registry } as object }, async ({ config: c }) =>
      (await t.client.workflow.execute('refineKnowledgeWorkflow', {
        taskQueue: c.queues.cpu.name,
        workflowId: `${runId}/refine/${DOMAIN}`,
        args: [{ runId, config: c, artifacts: { ingest: data.ingest }, domain: DOMAIN }],
      })) as StageResult<RefineStageSummary>,
    );
    const file = async (set: 'kar' | 'r2ec' | 'r4ec') => (await t.store.get(`${result.artifact.key}/${knowledgeFileName(set, DOMAIN)}`)).toString();
    const records = (await t.store.get(`${result.artifact.key}/${ENTITIES_FILE}`)).toString().split('\n').filter(Boolean).map((l) => EntityRecordSchema.parse(JSON.parse(l)));
    return { result, kar: await file('kar'), r2ec: await file('r2ec'), r4ec: await file('r4ec'), records, log: [...sim.requestLog] as SimLogEntry[] };
  } finally {
    await sim.close();
  }
}

const teacherSync = (log: SimLogEntry[]) => log.filter((e) => e.path === '/v1/chat/completions' && e.model === TEACHER);
const karLines = (log: SimLogEntry[]) => log.filter((e) => e.path === '/v1/batches' && e.customId !== undefined);

for (const mode of ENTITY_WORKFLOWS) {
  test(`kar on the batch path [entityWorkflows: ${mode}]: the same knowledge as the synchronous run of the same seed, no synchronous teacher request`, async () => {
    const stamp = Date.now();
    const sync = await refine(`kar-sync-${mode}-${stamp}`, mode, false);
    const batch = await refine(`kar-batch-${mode}-${stamp}`, mode, true, { batch: { completionDelayMs: 100, expireBatches: [1], expiredFraction: 0.5 } });

    // The synchronous run asked the teacher kar's questions, malformed answers among them.
    assert.ok(teacherSync(sync.log).length > 0 && teacherSync(sync.log).some((e) => e.outcome === 'malformed'), 'the synchronous run asked kar (and re-asked)');
    assert.equal(teacherSync(batch.log).length, 0, `no synchronous teacher request on the batch path (${teacherSync(batch.log).length} sent)`);
    const lines = karLines(batch.log);
    assert.ok(lines.some((e) => e.outcome === 'malformed'), 'some kar answers in the batches were malformed (and re-asked in a later one)');
    assert.ok(new Set(lines.map((e) => e.batchId)).size >= 3, 'several rounds of batches (the expired one resubmitted)');
    // The same kar answers: the synchronous path's exact requests, answered as batch lines.
    const answered = (log: SimLogEntry[]) => [...new Set(log.filter((e) => e.outcome === 'ok').map((e) => e.hash))].sort();
    assert.deepEqual(answered(lines), answered(teacherSync(sync.log)), 'the batches answered the requests the synchronous path sent');

    assert.equal(batch.kar, sync.kar, 'the same kar knowledge');
    assert.ok(batch.kar.trim().split('\n').length >= 20, 'kar knowledge for the entities');
    assert.equal(batch.r2ec, sync.r2ec);
    assert.equal(batch.r4ec, sync.r4ec);
    assert.deepEqual(batch.result.summary.outcomes, sync.result.summary.outcomes, 'the same outcomes');
  });
}

test('a kar request that fails for good in the batches fails its entity (failed_transport at kar) without a synchronous request', async () => {
  // Every batch expires before running a line: each kar request is delivered maxAttempts times, then fails.
  const r = await refine(`kar-fail-${Date.now()}`, 'failed', true, { batch: { completionDelayMs: 30, expireRate: 1, expiredFraction: 0 } }, 0);
  assert.equal(teacherSync(r.log).length, 0, 'the failed kar was not asked synchronously, not even by its entity workflow');
  assert.equal(new Set(karLines(r.log).map((e) => e.batchId)).size, 0, 'no line ever ran');
  const active = r.records.filter((x) => x.outcome !== 'approximated');
  assert.ok(active.length > 0);
  for (const rec of active) {
    assert.equal(rec.outcome, 'failed_transport', rec.entityId);
    assert.equal(rec.error?.call, 'kar');
    assert.match(rec.error?.message ?? '', /batch_expired/);
  }
  // The chain itself ran: the actor's knowledge is there for every entity.
  assert.ok(active.every((x) => x.r2ec !== null));
});
