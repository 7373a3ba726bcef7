// `rerun --failed` for construct, in both execution modes: a run with 10% malformed answers and 10%
// 429s completes; its failed inferences are exactly those the visibility query lists (in batch mode
// too: every inference that failed in its batch ran again as its own workflow);
// rerunFailedConstructWorkflow starts exactly those again and assembles the output under the same
// key with a new content hash, leaving every other inference's line as it was; no completed call is
// sent twice (simulator request log).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../../config/schema';
import type { ManifestLine } from '../../core/construct';
import { failedEntitiesQuery } from '../../core/rules';
import type { ConstructSummary } from '../../workflows/construct';
import type { RerunConstructDomainResult, RerunFailedConstructOutput } from '../../workflows/construct-rerun';
import type { StageResult } from '../../workflows/stage-types';
import { listFailed } from '../helpers/failed';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { refineConfig } from '../refine/fixtures';
import { readOutput } from './helpers';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

// In batch mode a failed inference runs again as its own workflow, which sends its failed call once
// more: with one attempt per call there, about as many inferences stay failed as with two in `all`.
const BUDGETS: Record<EntityWorkflows, { formatRetries: number; maxAttempts: number }> = {
  all: { formatRetries: 1, maxAttempts: 2 },
  failed: { formatRetries: 0, maxAttempts: 1 },
};

for (const mode of ENTITY_WORKFLOWS) {
  test(`construct [entityWorkflows: ${mode}]: 10% malformed + 10% 429: failed inferences are listed and rerun --failed repairs exactly them`, async () => {
    const data = (await ingestSynthetic(t.store, { users: 80, items: 90, seed: 13 })).ingest;
    const runId = `construct-rerun-${mode}-${Date.now()}`;
    const config = refineConfig({
      construct: { sampleFraction: 1, entityWorkflows: mode, batchSize: 20, window: 16 },
      llm: { formatRetries: BUDGETS[mode].formatRetries, transport: { maxAttempts: BUDGETS[mode].maxAttempts }, simulator: { model: `sim-construct-rerun-${mode}`, malformedRate: 0.1, rateLimitRate: 0.1 } },
    });
    const s = await simulatorFor(t.store, data.key, config, t.stateDir);
    try {
      await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: s.registry } as object }, async ({ config: c }) => {
        const stage = (await t.client.workflow.execute('constructDatasetWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: `${runId}/construct/user`,
          args: [{ runId, config: c, artifacts: { ingest: data }, domain: 'user' }],
        })) as StageResult<ConstructSummary>;
        const o = stage.summary.outcomes;
        assert.ok(o.failed_format > 0 && o.failed_transport > 0, `expected both kinds of failures: ${JSON.stringify(o)}`);
        const before = (await readOutput(t.store, stage.artifact.key)).manifest;
        const failedIds = before.filter((m) => m.outcome.startsWith('failed_')).map((m) => m.workflowId).sort();
        assert.deepEqual(await listFailed(t.client, failedEntitiesQuery(runId, 'user', 'construct'), failedIds.length), failedIds, 'the visibility query lists exactly the failed inferences');

        let result: RerunConstructDomainResult | undefined;
        let rounds = 0;
        for (; rounds < 6; rounds++) {
          const out = (await t.client.workflow.execute('rerunFailedConstructWorkflow', {
            taskQueue: c.queues.cpu.name,
            workflowId: `${runId}/rerun-failed/${rounds}/construct`,
            args: [{ runId, domains: ['user'] }],
          })) as RerunFailedConstructOutput;
          result = out.domains.user as RerunConstructDomainResult;
          assert.ok(out.query.includes('R4ecStage="construct"'));
          if (result.total.failed_format + result.total.failed_transport === 0) break;
        }
        assert.ok(result && rounds < 6, 'rerun --failed repaired every failed inference');
        assert.equal(result.artifact.key, stage.artifact.key, 'same output key');
        assert.notEqual(result.artifact.contentHash, stage.artifact.contentHash, 'new content hash: downstream keys change');

        const after = new Map((await readOutput(t.store, stage.artifact.key)).manifest.map((m) => [m.workflowId, m]));
        const key = (m: ManifestLine) => ({ ...m, lines: undefined });
        for (const m of before) {
          const now = after.get(m.workflowId)!;
          if (m.outcome.startsWith('failed_')) {
            assert.ok(!now.outcome.startsWith('failed_'), `${m.workflowId} repaired`);
            assert.ok(now.usage.calls + now.usage.cacheHits > m.usage.calls + m.usage.cacheHits, 'usage of every attempt is kept');
          } else assert.deepEqual(key(now), key(m), `${m.workflowId} was not redone`);
        }
        assert.deepEqual(await listFailed(t.client, failedEntitiesQuery(runId, 'user', 'construct'), 0), [], 'no failed inference is left in visibility');

        const ok = new Map<string, number>();
        for (const e of s.sim.requestLog) if (e.outcome === 'ok') ok.set(e.hash, (ok.get(e.hash) ?? 0) + 1);
        assert.deepEqual([...ok].filter(([, n]) => n > 1), [], 'no completed call was sent twice');
      });
    } finally {
      await s.close();
    }
  });
}
