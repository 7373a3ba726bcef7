// A worker process killed (SIGKILL) in the middle of a refine stage: a new worker finishes the
// stage, every entity gets its outcome, and no completed LLM call is sent again — only calls that
// were in flight at the kill may repeat (docs/DESIGN.md, "Durability"; simulator request log).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import type { RefineStageSummary } from '../../workflows/refine';
import type { StageResult } from '../../workflows/stage-types';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { spawnWorker as spawnProcess, type WorkerProcess } from '../helpers/processes';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal';
import { refineConfig } from './fixtures';

let t: TestTemporal;
let ingest: Artifact;
let sim: RunningSimulator;
const LATENCY_MS = 150;
before(async () => {
  t = await startTestTemporal();
  ingest = (await ingestSynthetic(t.store, { users: 40, items: 60, seed: 5 })).ingest;
  sim = await startSimulator({ catalog: await t.store.localPath(`${ingest.key}/meta.json`), models: ['r4ec-sim'], faults: { latencyMs: LATENCY_MS } });
});
after(async () => {
  await sim?.close();
  await t?.close();
});

/** cpu + llm workers in one process (worker-proc.ts) on the config's queues, against the test's simulator. */
function spawnWorker(config: object): WorkerProcess {
  return spawnProcess({ entry: join(__dirname, 'worker-proc.ts'), env: { R4EC_TEST_ADDRESS: t.address, R4EC_TEST_STATE_DIR: t.stateDir, R4EC_TEST_CONFIG: JSON.stringify(config) } });
}

test('a worker killed mid-run: the stage finishes and no completed call is repeated', async () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  // Explicit endpoints with a short timeout: a call lost with the killed worker is retried after seconds.
  const endpoint = { baseUrl: `${sim.url}/v1`, model: 'r4ec-sim', timeoutMs: 3000, concurrency: 8 };
  const config = refineConfig({
    queues: { cpu: { name: `kill-cpu-${suffix}` }, llm: { name: `kill-llm-${suffix}`, slots: 8 } },
    llm: { teacher: endpoint, actor: endpoint, reflection: endpoint },
    refine: { window: 8, batchPerRun: 20 },
  });
  const runId = `kill-${Date.now()}`;
  const first = spawnWorker(config);
  await first.ready;
  const handle = await t.client.workflow.start('refineKnowledgeWorkflow', {
    taskQueue: config.queues.cpu.name,
    workflowId: `${runId}/refine/user`,
    args: [{ runId, config, artifacts: { ingest }, domain: 'user' }],
  });
  // Kill once a third of the users are done: calls are in flight, others completed and cached.
  for (;;) {
    const p = (await handle.query('progress').catch(() => ({ done: 0 }))) as { done: number };
    if (p.done >= 13) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const killedAt = Date.now();
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const second = spawnWorker(config);
  try {
    await second.ready;
    const result = (await handle.result()) as StageResult<RefineStageSummary>;
    const o = result.summary.outcomes;
    assert.equal(o.accepted_first + o.accepted_after_refine + o.budget_exhausted, 40, JSON.stringify(o));
    assert.ok(result.summary.runs >= 2, 'the fan-out continued-as-new across the kill');

    // Completed calls are answered once; a repeat must have been in flight when the worker died.
    const firstOk = new Map<string, number>();
    const repeats: string[] = [];
    for (const e of sim.requestLog) {
      if (e.outcome !== 'ok') continue;
      if (firstOk.has(e.hash)) repeats.push(e.hash);
      else firstOk.set(e.hash, Date.parse(e.at));
    }
    console.log(`kill test: ${firstOk.size} distinct completed calls, ${repeats.length} sent again (in flight at the kill)`);
    assert.ok(repeats.length <= 8, `at most the llm slots' worth of calls repeat (${repeats.length})`);
    for (const h of repeats) {
      // The log's time is the request's arrival; one in flight at the kill arrived shortly before it.
      assert.ok(firstOk.get(h)! >= killedAt - LATENCY_MS - 2000, `call ${h.slice(0, 12)} completed well before the kill and was sent again`);
    }
    const okCalls = sim.requestLog.filter((e) => e.outcome === 'ok').length;
    assert.ok(okCalls > 0);
  } finally {
    second.kill('SIGKILL');
  }
});
