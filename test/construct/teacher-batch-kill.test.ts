// The construct stage on the Batch API survives SIGKILL of its worker process and of the dev server
// while a batch is open: the stage goes on from the server's persisted history, finds its open
// batch by metadata, and finishes every inference; the simulator (the provider) saw exactly one
// batch created per round, never a second for the same requests.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
    cluster = await Cluster.create(dir, cfg as Record<string, unknown>, { workerGroups: ['cpu,llm'] });
    await cluster.startServer();
    await cluster.startWorkers();
    const config = R4ecConfigSchema.parse({ ...cfg, temporal: { address: cluster.address } });
    const runId = `tb-kill-${Date.now().toString(36)}`;
    const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
    const workflowId = `${runId}/construct/user`;
    await (await cluster.client()).workflow.start('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId, args: [input] });

    const creates = () => sim.requestLog.filter((e) => e.path === '/v1/batches' && e.method === 'POST');
    for (let i = 0; i < 600 && creates().length === 0; i++) await sleep(50);
    assert.equal(creates().length, 1, 'the first batch is open');
    await cluster.killWorkers();
    await cluster.killServer();
    await sleep(500);
    await cluster.startServer();
    await cluster.startWorkers();
    // A second kill of the worker, in a later round's open batch.
    for (let i = 0; i < 600 && creates().length < 2; i++) await sleep(50);
    await cluster.killWorkers();
    await cluster.startWorkers();

    const result = await (await cluster.client()).workflow.getHandle(workflowId).result() as StageResult<ConstructSummary>;
    const total = Object.values(result.summary.outcomes).reduce((a, b) => a + b, 0);
    assert.equal(total, result.summary.sampled * 2, 'every inference recorded');
    assert.equal(result.summary.outcomes.skipped_call_cap, 0);

    // One batch per round: the metadata of every batch created is distinct (round, part, content).
    const bc = new LlmRegistry({ llm: config.llm, stateDir: join(dir, 'check'), env: {} }).batchClient('teacher');
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
