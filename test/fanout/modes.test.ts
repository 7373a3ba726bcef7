// The two execution modes of construct and refine give the same result for the same seed with the
// deterministic simulator: batches (entityWorkflows `failed`, the default) and a workflow per entity
// (`all`) send the same requests in the same order per entity (the entity's chain is the same code,
// core/rules), with the same retry budgets, so the same answers arrive. Each mode runs against its
// own store, LLM cache and simulator; faults are injected and retried within their budgets, so no
// entity fails (a failed entity gets a second try in batch mode: see docs/entity-batches.md).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../../config/schema';
import { KNOWLEDGE_SETS } from '../../config/names';
import { knowledgeFileName } from '../../core/encode/stage';
import { ENTITIES_FILE, EntityRecordSchema } from '../../core/refine';
import { openStore } from '../../core/store';
import type { ConstructSummary } from '../../workflows/construct';
import type { RefineStageSummary } from '../../workflows/refine';
import type { StageResult } from '../../workflows/stage-types';
import { readOutput } from '../construct/helpers';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { refineConfig } from '../refine/fixtures';

let t: TestTemporal;
const dirs: string[] = [];
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function runMode(mode: EntityWorkflows) {
  const dir = mkdtempSync(join(tmpdir(), `r4ec-modes-${mode}-`));
  dirs.push(dir);
  const store = openStore({ kind: 'local' }, dir);
  const { ingest } = await ingestSynthetic(store, { users: 40, items: 80, seed: 21 });
  const config = refineConfig({
    construct: { entityWorkflows: mode, batchSize: 7, window: 16 },
    refine: { entityWorkflows: mode, batchSize: 9, window: 16 },
    llm: { formatRetries: 4, transport: { maxAttempts: 8 }, simulator: { model: 'sim-modes', seed: 5, malformedRate: 0.1, rateLimitRate: 0.1, serverErrorRate: 0.05 } },
  });
  const s = await simulatorFor(store, ingest.key, config, dir);
  try {
    return await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { store, stateDir: dir, llm: s.registry } as object }, async ({ config: c }) => {
      // The same run id in both (the records name their entity workflows by it); the stage ids repeat
      // on one server, each mode's execution after the other's.
      const runId = 'modes-run';
      const construct = (await t.client.workflow.execute('constructDatasetWorkflow', {
        taskQueue: c.queues.cpu.name,
        workflowId: `${runId}/construct/user`,
        args: [{ runId, config: c, artifacts: { ingest }, domain: 'user' }],
      })) as StageResult<ConstructSummary>;
      const refine = (await t.client.workflow.execute('refineKnowledgeWorkflow', {
        taskQueue: c.queues.cpu.name,
        workflowId: `${runId}/refine/item`,
        args: [{ runId, config: c, artifacts: { ingest }, domain: 'item' }],
      })) as StageResult<RefineStageSummary>;
      const files = Object.fromEntries(await Promise.all(KNOWLEDGE_SETS.map(async (set) => [set, (await store.get(`${refine.artifact.key}/${knowledgeFileName(set, 'item')}`)).toString()] as const)));
      const records = (await store.get(`${refine.artifact.key}/${ENTITIES_FILE}`))
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => EntityRecordSchema.parse(JSON.parse(l)));
      return { construct, constructFiles: await readOutput(store, construct.artifact.key), refine, files, records, requests: s.sim.stats() };
    });
  } finally {
    await s.close();
  }
}

test('construct and refine: batch mode and a workflow per entity give the same outputs, outcomes and usage', async () => {
  const [a, b] = [await runMode(ENTITY_WORKFLOWS[0]), await runMode(ENTITY_WORKFLOWS[1])];
  for (const r of [a, b]) {
    assert.equal(r.construct.summary.outcomes.failed_format + r.construct.summary.outcomes.failed_transport, 0, 'no inference fails: every fault is retried within its budget');
    assert.equal(r.refine.summary.outcomes.failed_format + r.refine.summary.outcomes.failed_transport, 0, 'no entity fails');
    assert.ok(r.requests.malformed > 0 && r.requests.rate_limited > 0 && r.requests.server_error > 0, 'faults were injected and retried');
  }
  // construct: the same key and, byte for byte, the same output (datasets, manifest with usage, report).
  assert.equal(a.construct.artifact.key, b.construct.artifact.key);
  assert.deepEqual(a.constructFiles, b.constructFiles);
  assert.equal(a.construct.artifact.contentHash, b.construct.artifact.contentHash);
  assert.deepEqual(a.construct.summary, b.construct.summary);
  // refine: the same knowledge sets, outcomes and calls; records equal but for who wrote them and when.
  assert.equal(a.refine.artifact.key, b.refine.artifact.key);
  assert.deepEqual(a.files, b.files);
  assert.deepEqual(a.refine.summary.outcomes, b.refine.summary.outcomes);
  assert.deepEqual(a.refine.summary.llm, b.refine.summary.llm);
  const strip = (r: (typeof a.records)[number]) => ({ ...r, workflowRunId: '', updatedAt: '' });
  assert.deepEqual(a.records.map(strip), b.records.map(strip));
  assert.deepEqual(a.requests, b.requests, 'the simulator answered the same requests with the same faults');
  assert.ok(a.records.every((r) => r.workflowRunId.startsWith('batch/')) && b.records.every((r) => !r.workflowRunId.startsWith('batch/')));
});
