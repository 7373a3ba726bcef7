// `r4ec run --force STAGE` on the pipeline workflow: a finished stage and every stage after it are
// computed again (their outputs and work areas removed first), the stages before it are skipped,
// and with the deterministic simulator the recomputed output has the same outcomes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PIPELINE_WORKFLOW_TYPE } from '../../config/names';
import type { StageSelection } from '../../core/rules';
import type { RunSummary } from '../../workflows/run-summary';
import { selectionFrom } from '../../cli/commands/run';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { smallPipelineConfig } from '../helpers/pipeline';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('--force is one selected stage', () => {
  assert.deepEqual(selectionFrom({ force: 'construct' }), { force: 'construct' });
  assert.deepEqual(selectionFrom({ until: 'construct', force: 'ingest' }), { until: 'construct', force: 'ingest' });
  assert.throws(() => selectionFrom({ until: 'ingest', force: 'construct' }), /not selected in this run/);
  assert.throws(() => selectionFrom({ force: 'construct,refine' }), /one stage/);
  assert.throws(() => selectionFrom({ force: 'nope' }), /unknown stage/);
});

test('run --force construct: ingest is skipped, construct computes again (records redone from the cache), same outcomes', async () => {
  const raw = await smallPipelineConfig(t.stateDir, { construct: { batchSize: 20 } });
  await withWorkers(t, { queues: ['cpu', 'llm'] }, async ({ config }) => {
    const cfg = { ...raw, queues: config.queues };
    const start = async (id: string, selection: StageSelection) =>
      (await t.client.workflow.execute(PIPELINE_WORKFLOW_TYPE, { taskQueue: config.queues.cpu.name, workflowId: 'force-run', args: [cfg, selection], workflowIdReusePolicy: 'ALLOW_DUPLICATE' }).catch((e: unknown) => {
        throw new Error(`${id}: ${String(e)}`);
      })) as RunSummary;
    const first = await start('first', { until: 'construct' });
    assert.equal(first.stages.construct?.status, 'completed');
    const again = await start('again', { until: 'construct' });
    assert.deepEqual([again.stages.ingest?.status, again.stages.construct?.status], ['skipped', 'skipped']);
    const forced = await start('forced', { until: 'construct', force: 'construct' });
    assert.deepEqual([forced.stages.ingest?.status, forced.stages.construct?.status], ['skipped', 'completed']);
    for (const d of ['user', 'item'] as const) {
      // Same key, same outcomes; the manifest's usage now counts cache hits, so the content hash moves.
      assert.equal(forced.artifacts[`construct:${d}`]?.key, first.artifacts[`construct:${d}`]?.key, `construct:${d}: the same output key`);
      assert.deepEqual(forced.construct?.outcomes[d], first.construct?.outcomes[d]);
    }
    // Everything was asked again of the cache: no new LLM request, only cache hits.
    assert.equal(forced.llm.calls, 0);
    assert.ok(forced.llm.cacheHits > 0, JSON.stringify(forced.llm));
  });
});
