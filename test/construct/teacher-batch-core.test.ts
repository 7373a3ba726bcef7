// The construct stage's Batch API rounds without Temporal (core/construct/teacher-batch.ts), driven
// in-process as the stage workflow drives them: every unit recorded with the same outcomes as the
// synchronous batch of the same seed (malformed answers re-asked in later rounds, an expired batch's
// unanswered lines resubmitted), only batch lines sent; a repeated submit of a round finds its batch
// by metadata instead of creating a second; a call cap stops the rounds exactly at it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DatasetSchema, R4ecConfigSchema } from '../../config/schema';
import { planConstruction } from '../../core/construct';
import { runConstructBatch } from '../../core/construct/batch';
import { collectTeacherRound, prepareTeacherRound, submitTeacherRound, type TeacherRoundScope } from '../../core/construct/teacher-batch';
import { inferenceKey } from '../../core/construct/work';
import { ingest } from '../../core/data';
import { synthesizeDataset } from '../../core/data/synth';
import { InferenceRecordSchema } from '../../core/construct/records';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../core/sim/server';
import { LocalStore, type ArtifactStore } from '../../core/store';

let dir: string;
let data: { key: string; contentHash: string };
let raw: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'r4ec-teacher-batch-core-'));
  raw = join(dir, 'raw');
  await synthesizeDataset({ outDir: raw, seed: 6, users: 30, items: 60 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const SIM = 'sim-tb-core';

async function setup(name: string, batch: SimulatorOptions['batch'], cap: { maxCalls?: number } = {}) {
  const store = new LocalStore(join(dir, name, 'store'));
  const r = await ingest({ store, dataset: DatasetSchema.parse({ kind: 'synthetic' }), dir: raw });
  data = { key: r.key, contentHash: r.contentHash };
  const sim = await startSimulator({ catalog: await store.localPath(`${data.key}/meta.json`), models: [SIM], seed: 0, faults: { latencyMs: 0, malformedRate: 0.05, rateLimitRate: 0, serverErrorRate: 0, retryAfterSeconds: 0.01 }, ...(batch ? { batch } : {}) });
  const config = R4ecConfigSchema.parse({
    construct: { sampleFraction: 0.5 },
    llm: { teacher: { baseUrl: `${sim.url}/v1`, model: SIM, batch: { enabled: true } }, formatRetries: 2, transport: { maxAttempts: 4, initialIntervalMs: 5 }, simulator: { model: SIM }, cap },
  });
  const registry = new LlmRegistry({ llm: config.llm, store, stateDir: join(dir, name), env: {}, simulatorUrl: sim.url });
  const plan = await planConstruction(store, { runId: name, domain: 'user', construct: config.construct, llm: config.llm, ingest: data, lookupOnly: false });
  assert.equal(plan.status, 'todo');
  const work = plan.status === 'todo' ? plan.work : undefined!;
  return { store, sim, config, registry, work };
}

async function outcomes(store: ArtifactStore, workKey: string, units: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let u = 0; u < units; u++) {
    const rec = InferenceRecordSchema.parse(JSON.parse((await store.get(inferenceKey(workKey, Math.floor(u / 2), u % 2))).toString()));
    out[rec.outcome] = (out[rec.outcome] ?? 0) + 1;
  }
  return out;
}

/** The stage workflow's loop, in-process. */
async function rounds(s: Awaited<ReturnType<typeof setup>>, runId: string, session = 's1') {
  const scope = (round: number): TeacherRoundScope => ({ runId, domain: 'user', workKey: s.work.workKey, datasetKey: data.key, inferencesPerSample: 2, session, round });
  const bc = s.registry.batchClient('teacher');
  let round = 1;
  let skipped = 0;
  for (; round < 40; round++) {
    const p = await prepareTeacherRound(s.store, s.registry.cache, bc, { ...scope(round), cap: s.config.llm.cap });
    skipped = p.skipped;
    if (p.requests === 0) break;
    const ids = (await submitTeacherRound(s.store, bc, scope(round))).map((b) => b.id);
    // A worker killed after its create call runs the submit again: the same batches come back.
    assert.deepEqual((await submitTeacherRound(s.store, bc, scope(round))).map((b) => b.id), ids);
    while (!(await Promise.all(ids.map((id) => bc.poll(id)))).every((b) => b.terminal)) await new Promise((r) => setTimeout(r, 20));
    await collectTeacherRound(s.store, bc, { ...scope(round), batchIds: ids, llm: s.config.llm, free: false });
  }
  return { rounds: round - 1, skipped };
}

test('the batch rounds record every unit with the synchronous outcomes; only batch lines, one batch per round', async () => {
  const sync = await setup('tb-sync', undefined);
  const syncLlm = { client: () => sync.registry.client('teacher') };
  await runConstructBatch(sync.store, syncLlm, { runId: 'tb-sync', domain: 'user', workKey: sync.work.workKey, datasetKey: data.key, offset: 0, limit: sync.work.units, inferencesPerSample: 2, formatRetries: 2, transport: sync.config.llm.transport }, { execution: 'batch/x/1' });
  const expected = await outcomes(sync.store, sync.work.workKey, sync.work.units);
  await sync.sim.close();

  const b = await setup('tb-batch', { completionDelayMs: 20, expireBatches: [1], expiredFraction: 0.5 });
  try {
    const r = await rounds(b, 'tb-batch');
    assert.deepEqual(await outcomes(b.store, b.work.workKey, b.work.units), expected);
    assert.equal(r.skipped, 0);
    const log = b.sim.requestLog;
    assert.equal(log.filter((e) => e.path === '/v1/chat/completions').length, 0, 'no synchronous request');
    const created = log.filter((e) => e.path === '/v1/batches' && e.method === 'POST');
    assert.equal(created.length, r.rounds, `one batch per round (${created.length} created in ${r.rounds} rounds)`);
    assert.ok(log.some((e) => e.outcome === 'malformed'), 'malformed answers were re-asked');
    const firstBatch = log.find((e) => e.path === '/v1/batches' && e.batchId !== undefined)!.batchId!;
    assert.equal((await b.registry.batchClient('teacher').poll(firstBatch)).status, 'expired', 'the first batch expired half-done (its other lines went out again)');
    assert.ok(Object.keys(expected).length >= 3, `several outcomes reached: ${JSON.stringify(expected)}`);
    // Prepared again, every unit is recorded: nothing to send.
    const again = await prepareTeacherRound(b.store, b.registry.cache, b.registry.batchClient('teacher'), { runId: 'tb-batch', domain: 'user', workKey: b.work.workKey, datasetKey: data.key, inferencesPerSample: 2, session: 's2', round: 1, cap: {} });
    assert.equal(again.requests, 0);
  } finally {
    await b.sim.close();
  }
});

test('a call cap stops the rounds exactly at it; the rest are skipped_call_cap and asked once the cap is raised', async () => {
  const c = await setup('tb-cap', { completionDelayMs: 5 }, { maxCalls: 25 });
  try {
    const r = await rounds(c, 'tb-cap');
    const lines = () => c.sim.requestLog.filter((e) => e.path === '/v1/batches' && e.customId !== undefined);
    assert.ok(lines().length <= 25 && lines().length >= 20, `${lines().length} lines sent with a cap of 25`);
    assert.ok(r.skipped > 0);
    const first = await outcomes(c.store, c.work.workKey, c.work.units);
    assert.ok((first.skipped_call_cap ?? 0) > 0, JSON.stringify(first));
    const answered = new Set(lines().filter((e) => e.outcome === 'ok').map((e) => e.hash));
    const raised = { ...c, config: { ...c.config, llm: { ...c.config.llm, cap: { maxCalls: 100_000 } } } };
    await rounds(raised, 'tb-cap', 's2');
    const second = await outcomes(c.store, c.work.workKey, c.work.units);
    assert.equal(second.skipped_call_cap ?? 0, 0, JSON.stringify(second));
    const sentAgain = lines().filter((e) => e.outcome === 'ok').map((e) => e.hash);
    assert.equal(sentAgain.length - new Set(sentAgain).size, 0, 'nothing answered under the first cap was asked again');
    assert.ok(answered.size > 0);
  } finally {
    await c.sim.close();
  }
});
