import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('the llm worker starts the simulator for roles without an endpoint and teaches it the ingested catalog', async () => {
  await withWorkers(t, { queues: ['cpu', 'llm'] }, async ({ config }) => {
    const ingest = await t.client.workflow.execute('ingestDatasetWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: `llm-worker-ingest-${Date.now()}`,
      args: [{ runId: 'llm-worker', config, artifacts: {} }],
    });
    const key = (ingest as { artifact: { key: string } }).artifact.key;
    const meta = JSON.parse((await t.store.get(`${key}/meta.json`)).toString()) as { items: Array<{ title: string }> };
    const history = meta.items.slice(0, 10).map((it, i) => [it.title, (i % 5) + 1] as [string, number]);
    // One inference through the llm queue's worker (its simulator now knows this catalog).
    const handle = await t.client.workflow.start('llmProbeWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: `llm-probe-${Date.now()}`,
      args: [{ llmQueue: config.queues.llm.name, catalogKey: key, history }],
    });
    const out = (await handle.result()) as { status: string; text?: string; model?: string; cacheHit?: boolean };
    assert.equal(out.status, 'ok', JSON.stringify(out));
    assert.equal(out.model, config.llm.simulator.model);
    assert.ok((out.text ?? '').split(/\s+/).length > 20, JSON.stringify(out));
    // The simulator read the catalog: the genres of the shown titles appear in its reasoning.
    const genres = new Set(meta.items.slice(0, 10).flatMap((it) => (it as unknown as { genres: string[] }).genres));
    assert.ok([...genres].some((g) => out.text!.includes(g)), `no catalog genre in: ${out.text}`);
    const again = (await t.client.workflow.execute('llmProbeWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: `llm-probe-again-${Date.now()}`,
      args: [{ llmQueue: config.queues.llm.name, catalogKey: key, history }],
    })) as { cacheHit: boolean };
    assert.equal(again.cacheHit, true, 'the same call is answered from the cache');
  });
});
