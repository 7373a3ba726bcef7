// A run with 10% malformed answers and 10% 429s completes, in both execution modes; its failed
// entities are listed by the visibility query on R4ecOutcome (in batch mode too: every entity that
// failed in its batch ran again as its own workflow), and rerunFailedRefineWorkflow repairs exactly
// those: the other entities are not started again, no completed call is repeated (simulator request
// log), and the output is rewritten under the same key with a new content hash.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../../config/schema';
import { EntityRecordSchema, ENTITIES_FILE, type EntityRecord } from '../../core/refine';
import { failedEntitiesQuery } from '../../core/rules';
import type { RefineStageSummary } from '../../workflows/refine';
import type { RerunFailedRefineOutput, RerunDomainResult } from '../../workflows/refine-rerun';
import type { StageResult } from '../../workflows/stage-types';
import { listFailed } from '../helpers/failed';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { refineConfig } from './fixtures';

let t: TestTemporal;
let ingest: Artifact;
before(async () => {
  t = await startTestTemporal();
  ingest = (await ingestSynthetic(t.store, { users: 30, items: 150, seed: 11 })).ingest;
});
after(async () => {
  await t?.close();
});

async function records(key: string): Promise<Map<number, EntityRecord>> {
  const text = (await t.store.get(`${key}/${ENTITIES_FILE}`)).toString();
  return new Map(text.split('\n').filter(Boolean).map((l) => EntityRecordSchema.parse(JSON.parse(l))).map((r) => [r.index, r]));
}

// In batch mode an entity that fails runs again as its own workflow, which sends the failed call once
// more: with one attempt per call there, about as many entities stay failed as with two in `all`.
const BUDGETS: Record<EntityWorkflows, { formatRetries: number; maxAttempts: number }> = {
  all: { formatRetries: 1, maxAttempts: 2 },
  failed: { formatRetries: 0, maxAttempts: 1 },
};

for (const mode of ENTITY_WORKFLOWS) {
  test(`refine [entityWorkflows: ${mode}]: 10% malformed + 10% 429: the run completes, lists its failed entities, and rerun --failed repairs them`, async () => {
    const runId = `rerun-${mode}-${Date.now()}`;
    const { formatRetries, maxAttempts } = BUDGETS[mode];
    const config = refineConfig({
      llm: { formatRetries, transport: { maxAttempts }, simulator: { model: `sim-rerun-${mode}`, malformedRate: 0.1, rateLimitRate: 0.1 } },
      refine: { entityWorkflows: mode, batchSize: 20 },
    });
    const s = await simulatorFor(t.store, ingest.key, config, t.stateDir);
    try {
      await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: s.registry } as object }, async ({ config: c }) => {
        const started = Date.now();
        const stage = (await t.client.workflow.execute('refineKnowledgeWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: `${runId}/refine/item`,
          args: [{ runId, config: c, artifacts: { ingest }, domain: 'item' }],
        })) as StageResult<RefineStageSummary>;
        console.log(`refine(item): ${stage.summary.entities} entities in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const o = stage.summary.outcomes;
        const failedCount = o.failed_format + o.failed_transport;
        assert.ok(failedCount > 0 && o.failed_format > 0 && o.failed_transport > 0, `expected both kinds of failures: ${JSON.stringify(o)}`);
        assert.equal(o.accepted_first + o.accepted_after_refine + o.budget_exhausted + failedCount, stage.summary.entities);

        const before = await records(stage.artifact.key);
        const failedIds = [...before.values()].filter((r) => r.outcome.startsWith('failed_')).map((r) => r.entityId).sort();
        assert.deepEqual(await listFailed(t.client, failedEntitiesQuery(runId, 'item'), failedIds.length, 'entityId'), failedIds, 'the visibility query lists exactly the failed entities');

        // Rerun until nothing is failed (the simulator's faults are per occurrence, so retries succeed).
        let result: RerunDomainResult | undefined;
        let rounds = 0;
        for (; rounds < 6; rounds++) {
          const out = (await t.client.workflow.execute('rerunFailedRefineWorkflow', {
            taskQueue: c.queues.cpu.name,
            workflowId: `${runId}/refine-rerun/${rounds}`,
            args: [{ runId, domains: ['item'] }],
          })) as RerunFailedRefineOutput;
          result = out.domains.item as RerunDomainResult;
          assert.ok(out.query.includes(runId));
          if (result.total!.failed_format + result.total!.failed_transport === 0) break;
        }
        assert.ok(result && rounds < 6, 'rerun --failed repaired every failed entity');
        assert.equal(result.artifact!.key, stage.artifact.key, 'same output key');
        assert.notEqual(result.artifact!.contentHash, stage.artifact.contentHash, 'new content hash: downstream keys change');

        const after = await records(stage.artifact.key);
        for (const [index, rec] of before) {
          const now = after.get(index)!;
          if (rec.outcome.startsWith('failed_')) {
            assert.ok(!now.outcome.startsWith('failed_') && now.attempts >= 2 && now.r4ec !== null, `entity ${rec.entityId} repaired`);
            assert.ok(now.usage.calls + now.usage.cacheHits > rec.usage.calls + rec.usage.cacheHits, 'usage of every attempt is kept');
          } else {
            assert.equal(now.workflowRunId, rec.workflowRunId, `entity ${rec.entityId} was not started again`);
          }
        }
        assert.deepEqual(await listFailed(t.client, failedEntitiesQuery(runId, 'item'), 0, 'entityId'), [], 'no failed entity is left in visibility');

        // No completed call was ever sent twice: the reruns' finished calls were cache hits.
        const ok = new Map<string, number>();
        for (const e of s.sim.requestLog) if (e.outcome === 'ok') ok.set(e.hash, (ok.get(e.hash) ?? 0) + 1);
        assert.deepEqual([...ok].filter(([, n]) => n > 1), []);
      });
    } finally {
      await s.close();
    }
  });
}
