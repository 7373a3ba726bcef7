// A rejected LLM request (401: a wrong API key) is the same for every entity: construct and refine
// stop at once in both execution modes — the stage fails with the endpoint's message, and the
// endpoint sees a handful of requests (those in flight), not one per entity. The LLM preflight
// catches a wrong key before any inference (test/pipeline/preflight.test.ts); here the key the calls
// use is rejected after the preflight passed (a key revoked mid-run): the preflight reads the right
// key from the worker's environment, the calls' registry holds the revoked one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ENTITY_WORKFLOWS } from '../../config/schema';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { refineConfig } from '../refine/fixtures';

let t: TestTemporal;
let ingest: Artifact;
let sim: RunningSimulator;
before(async () => {
  t = await startTestTemporal();
  ingest = (await ingestSynthetic(t.store, { users: 50, items: 60, seed: 9 })).ingest;
  sim = await startSimulator({ catalog: await t.store.localPath(`${ingest.key}/meta.json`), models: ['sim-401'], apiKey: 'the-right-key' });
});
after(async () => {
  await sim?.close();
  await t?.close();
});

const CONCURRENCY = 3;

for (const mode of ENTITY_WORKFLOWS) {
  test(`[entityWorkflows: ${mode}] a 401 stops construct and refine at once with the endpoint's message`, async () => {
    const endpoint = { baseUrl: `${sim.url}/v1`, model: 'sim-401', apiKeyEnv: 'R4EC_TEST_KEY', concurrency: CONCURRENCY };
    const fanout = { entityWorkflows: mode, window: 4, batchSize: 5, batchWindow: 2 };
    const config = refineConfig({
      llm: { teacher: endpoint, actor: endpoint, reflection: endpoint },
      construct: { ...fanout, sampleFraction: 1 },
      refine: fanout,
      queues: { llm: { slots: 4 } },
    });
    const registry = new LlmRegistry({ llm: config.llm, stateDir: t.stateDir, env: { R4EC_TEST_KEY: 'a-wrong-key' } });
    await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: registry, env: { ...process.env, R4EC_TEST_KEY: 'the-right-key' } } as object }, async ({ config: c }) => {
      for (const stage of ['construct', 'refine'] as const) {
        const runId = `rejected-${mode}-${stage}-${Date.now()}`;
        const before = sim.requestLog.filter((e) => e.outcome === 'unauthorized').length;
        const started = Date.now();
        await assert.rejects(
          t.client.workflow.execute(stage === 'construct' ? 'constructDatasetWorkflow' : 'refineKnowledgeWorkflow', {
            taskQueue: c.queues.cpu.name,
            workflowId: `${runId}/${stage}/user`,
            args: [{ runId, config: c, artifacts: { ingest }, domain: 'user' }],
          }),
          (e: unknown) => {
            assert.ok(e instanceof WorkflowFailedError, String(e));
            const cause = e.cause as { message?: string; type?: string } | undefined;
            assert.match(String(cause?.message), /answered 401/, `${stage} fails with the endpoint's message, got: ${cause?.message}`);
            assert.equal(cause?.type, 'LlmRequestRejected');
            assert.ok(!String(cause?.message).includes('a-wrong-key'), 'the key never reaches the failure');
            return true;
          },
        );
        const sent = sim.requestLog.filter((e) => e.outcome === 'unauthorized').length - before;
        // 50 users: every entity asking once would be 40+ requests.
        assert.ok(sent >= 1 && sent <= 2 * 4, `${stage}: ${sent} requests reached the endpoint; only those in flight may`);
        console.log(`[${mode}] ${stage}: stopped after ${sent} rejected requests in ${Date.now() - started} ms`);
      }
    });
  });
}
