// The construct stage on the Batch API survives SIGKILL of its worker process and of the dev server
// while a batch is open: the stage goes on from the server's persisted history, finds its open
// batch by metadata, and finishes every inference; the simulator (the provider) saw exactly one
// batch created per round, never a second for the same requests. The first kill lands at the worst
// moment, right after the provider accepted the create and before the activity could return the
// batch (a fault point), so only the lookup by metadata stands between the retry and a second batch.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { R4ecConfigSchema, type R4ecConfigInput } from '../../config/schema';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator } from '../../core/sim/server';
import { openStore } from '../../core/store';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { Cluster } from '../helpers/cluster';
import { ingestSynthetic } from '../helpers/dataset';

const dir = mkdtempSync(join(tmpdir(), 'r4ec-teacher-batch-kill-'));
let cluster: Cluster | undefined;
after(async () => {
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resolves false after `ms` without keeping the process alive. */
const timeout = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms).unref());
const SIM = 'sim-tb-kill';

test('SIGKILL of the worker and of the dev server while a batch is open: no second batch for the same requests', async () => {
  const store = openStore({ kind: 'local' }, dir);
  const data = (await ingestSynthetic(store, { users: 24, items: 60, seed: 7 })).ingest;
  // The provider outlives both kills; each batch takes long enough to be open when they happen.
  const sim = await startSimulator({ catalog: await store.localPath(`${data.key}/meta.json`), models: [SIM], seed: 0, faults: { latencyMs: 0, malformedRate: 0.05, rateLimitRate: 0, serverErrorRate: 0, retryAfterSeconds: 0.01 }, batch: { completionDelayMs: 2500 } });
  try {
    const cfg: R4ecConfigInput = {
      construct: { sampleFraction: 0.5, heartbeatTimeoutSeconds: 3 },
      llm: { teacher: { baseUrl: `${sim.url}/v1`, model: SIM, batch: { enabled: true, pollIntervalSeconds: 0.3 } }, simulator: { model: SIM }, transport: { maxAttempts: 3, initialIntervalMs: 100 } },
    };
    const faults = join(dir, 'faults');
    cluster = await Cluster.create(dir, cfg as Record<string, unknown>, { workerGroups: ['cpu,llm'], workerEnv: { R4EC_FAULT_POINTS: 'teacher-batch.submit.after-create', R4EC_FAULT_DIR: faults } });
    await cluster.startServer();
    await cluster.startWorkers();
    const config = R4ecConfigSchema.parse({ ...cfg, temporal: { address: cluster.address } });
    const runId = `tb-kill-${Date.now().toString(36)}`;
    const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
    const workflowId = `${runId}/construct/user`;
    await (await cluster.client()).workflow.start('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId, args: [input] });

    const creates = () => sim.requestLog.filter((e) => e.path === '/v1/batches' && e.method === 'POST');
    // The worker kills itself right after the first create call returned (the fault fires once).
    const died = await Promise.race([cluster.nextWorkerExit().then(() => true), timeout(60_000)]);
    assert.ok(died, `the worker reached the fault point after the first create:\n${cluster.workerLog().slice(-3000)}`);
    assert.ok(existsSync(join(faults, 'teacher-batch.submit.after-create')));
    assert.equal(creates().length, 1, 'the first batch was created before the kill');
    // ... and the dev server with it, while the batch is open.
    await cluster.killWorkers();
    await cluster.killServer();
    await sleep(500);
    await cluster.startServer();
    await cluster.startWorkers();
    // The provider's view: the run's batches by round (the metadata each batch was created with).
    const bc = new LlmRegistry({ llm: config.llm, stateDir: join(dir, 'check'), env: {} }).batchClient('teacher');
    const rounds = async () => (await bc.runBatches(runId)).map((b) => Number(b.metadata.r4ec_round));
    for (let i = 0; i < 240 && !(await rounds()).some((r) => r >= 2); i++) await sleep(250);
    const seen = await rounds();
    assert.ok(seen.some((r) => r >= 2), `the stage went on to round 2 after the kills (rounds: ${seen.join(', ')})`);
    assert.equal(seen.filter((r) => r === 1).length, 1, `round 1's requests went into one batch, not a second after the kill (rounds: ${seen.join(', ')})`);
    // A second kill of the worker, in a later round's open batch (the stage is polling it).
    await cluster.killWorkers();
    await cluster.startWorkers();

    const result = await (await cluster.client()).workflow.getHandle(workflowId).result() as StageResult<ConstructSummary>;
    const total = Object.values(result.summary.outcomes).reduce((a, b) => a + b, 0);
    assert.equal(total, result.summary.sampled * 2, 'every inference recorded');
    assert.equal(result.summary.outcomes.skipped_call_cap, 0);

    // One batch per round: the metadata of every batch created is distinct (round, part, content).
    const batches = await bc.runBatches(runId);
    const keys = batches.map((b) => `${b.metadata.r4ec_round}/${b.metadata.r4ec_part}/${b.metadata.r4ec_content}`);
    assert.equal(new Set(keys).size, keys.length, `no round's requests were sent twice: ${keys.join(', ')}`);
    assert.equal(creates().length, batches.length);
    assert.ok(batches.length >= 2, `several rounds (${batches.length})`);
    assert.equal(sim.requestLog.filter((e) => e.path === '/v1/chat/completions').length, 0, 'no synchronous teacher request');
  } finally {
    await sim.close();
  }
});
