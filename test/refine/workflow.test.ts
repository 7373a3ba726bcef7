// refineKnowledgeWorkflow on a real dev server with the simulator, in both execution modes
// (entityWorkflows `failed`: batches with a workflow per failed entity; `all`: a workflow per
// entity): every outcome, the output in the encode input format, records with every iteration, the
// R4ecOutcome attribute of every failed entity's workflow, the progress query, the call cap and its
// continuation, the filter strategy, and skipping a finished stage.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KNOWLEDGE_SETS, REFINE_OUTCOMES, type Domain } from '../../config/names';
import { ENTITY_WORKFLOWS, type EntityWorkflows, type R4ecConfig } from '../../config/schema';
import type { DatasetView } from '../../core/data/dataset';
import { parseKnowledgeFile } from '../../core/encode/knowledge';
import { knowledgeFileName } from '../../core/encode/stage';
import { ENTITIES_FILE, EntityRecordSchema, type EntityRecord } from '../../core/refine';
import { failedEntitiesQuery } from '../../core/rules';
import type { StageResult } from '../../workflows/stage-types';
import type { RefineStageSummary } from '../../workflows/refine';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';
import { ingestSynthetic, type Artifact } from '../helpers/dataset';
import { simulatorFor } from '../helpers/simulator';
import { refineConfig } from './fixtures';

let t: TestTemporal;
let data: { ingest: Artifact; view: DatasetView };
before(async () => {
  t = await startTestTemporal();
  data = await ingestSynthetic(t.store, { users: 80, items: 60 });
});
after(async () => {
  await t?.close();
});

type Result = StageResult<RefineStageSummary>;

async function runStage(config: R4ecConfig, domain: Domain, runId: string, extra: Parameters<typeof simulatorFor>[4] = {}): Promise<{ result: Result; requests: number }> {
  const s = await simulatorFor(t.store, data.ingest.key, config, t.stateDir, extra);
  try {
    const result = await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: s.registry } as object }, async ({ config: c }) =>
      (await t.client.workflow.execute('refineKnowledgeWorkflow', {
        taskQueue: c.queues.cpu.name,
        workflowId: `${runId}/refine/${domain}`,
        args: [{ runId, config: c, artifacts: { ingest: data.ingest }, domain }],
      })) as Result,
    );
    return { result, requests: s.sim.stats().requests };
  } finally {
    await s.close();
  }
}

function knowledge(key: string, domain: Domain, set: (typeof KNOWLEDGE_SETS)[number]) {
  return t.store.get(`${key}/${knowledgeFileName(set, domain)}`).then((b) => {
    const ids = domain === 'user' ? data.view.meta.users : [null, ...data.view.meta.items.map((i) => i.id)];
    return parseKnowledgeFile(b.toString(), knowledgeFileName(set, domain), { domain, ids });
  });
}

async function records(key: string): Promise<EntityRecord[]> {
  const text = (await t.store.get(`${key}/${ENTITIES_FILE}`)).toString();
  return text.split('\n').filter(Boolean).map((l) => EntityRecordSchema.parse(JSON.parse(l)));
}

// In batch mode a failed entity runs again as its own workflow, which sends its failed call once
// more: the faults are stronger there so that some entities still fail twice.
const FAULTS: Record<EntityWorkflows, { malformedRate: number; rateLimitRate: number }> = {
  all: { malformedRate: 0.08, rateLimitRate: 0.08 },
  failed: { malformedRate: 0.2, rateLimitRate: 0.2 },
};
// With those faults fewer entities succeed per call, and a failed entity's workflow books against
// the cap again: a higher cap in batch mode leaves as many successful entities to reach every outcome.
// On the 43 active users of this data set both caps leave every outcome at least 4 entities in runs
// here (the cap stopping 2-9 of them), so the test does not hang on one rare entity.
const CAP: Record<EntityWorkflows, number> = { all: 80, failed: 110 };

for (const mode of ENTITY_WORKFLOWS) {
  test(`refine [entityWorkflows: ${mode}]: every outcome is reached with the simulator; the call cap stops new entities and a higher cap continues the run`, async () => {
    const runId = `outcomes-${mode}-${Date.now()}`;
    const base = {
      llm: { formatRetries: 0, transport: { maxAttempts: 1 }, simulator: { model: `sim-refine-wf-${mode}`, ...FAULTS[mode] }, cap: { maxCalls: CAP[mode] } },
      // Every outcome is wanted here, failures included: no failure limit.
      refine: { maxIterations: 1, activeUserMinInteractions: 30, entityWorkflows: mode, batchSize: 10, failureLimit: 1 },
    };
    // The judge flags often enough that refinements happen and some stay unreasonable.
    const behaviour = { behaviour: { flagRight: 0.45, flagBorderline: 0.6, flagWrong: 0.9 } };
    const first = await runStage(refineConfig(base), 'user', runId, behaviour);
    const o = first.result.summary.outcomes;
    const total = Object.values(o).reduce((a, b) => a + b, 0);
    assert.equal(total, data.view.meta.users.length);
    for (const outcome of REFINE_OUTCOMES) assert.ok(o[outcome] > 0, `outcome ${outcome} not reached: ${JSON.stringify(o)}`);
    // Calls stay near the cap: only entities already running may go past it.
    assert.ok(first.requests <= CAP[mode] + 16 * 5, `requests ${first.requests}`);

    // Records: every iteration with its judgement; accepted_after_refine has a refine step judged reasonable.
    const recs = await records(first.result.artifact.key);
    const afterRefine = recs.find((r) => r.outcome === 'accepted_after_refine')!;
    assert.deepEqual(afterRefine.steps.map((s) => [s.step, s.judgement?.reasonable]), [['reason', false], ['refine', true]]);
    assert.ok(afterRefine.steps[0]!.judgement!.reflection.length > 0, 'a rejected answer carries its reflection');
    assert.equal(afterRefine.r4ec!.texts[0], afterRefine.steps[1]!.text);
    assert.equal(afterRefine.r2ec, afterRefine.steps[0]!.text);
    const exhausted = recs.find((r) => r.outcome === 'budget_exhausted')!;
    assert.equal(exhausted.steps.length, 2, 'maxIterations = 1: one refinement, then stop');
    assert.equal(exhausted.r4ec!.texts[0], exhausted.steps[1]!.text, 'the final refined answer is kept');
    const failed = recs.find((r) => r.outcome === 'failed_format')!;
    assert.ok(failed.error && failed.error.message.length > 0);

    // The encode input format: every set parses against the dataset, one line per user.
    for (const set of KNOWLEDGE_SETS) {
      const lines = await knowledge(first.result.artifact.key, 'user', set);
      assert.equal(lines.length, data.view.meta.users.length);
      assert.equal(lines.filter((l) => l.approximated).length, o.approximated);
    }
    const r4ec = await knowledge(first.result.artifact.key, 'user', 'r4ec');
    const accepted = recs.find((r) => r.outcome === 'accepted_first')!;
    assert.deepEqual(r4ec.find((l) => l.index === accepted.index)!.texts, [accepted.steps[0]!.text]);

    // R4ecOutcome on each entity workflow: the failed ones are listed by the visibility query.
    const failedIds = new Set(recs.filter((r) => r.outcome.startsWith('failed_')).map((r) => r.entityId));
    let listed = new Set<string>();
    for (let i = 0; i < 50 && listed.size !== failedIds.size; i++) {
      listed = new Set<string>();
      for await (const wf of t.client.workflow.list({ query: failedEntitiesQuery(runId, 'user') })) listed.add(String(wf.searchAttributes.R4ecEntityId?.[0]));
      if (listed.size !== failedIds.size) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual([...listed].sort(), [...failedIds].sort());

    // A higher cap continues the same run id: only the capped entities run; nothing else is redone.
    const again = await runStage(refineConfig({ ...base, llm: { ...base.llm, cap: { maxCalls: 100_000 } } }), 'user', runId, behaviour);
    const o2 = again.result.summary.outcomes;
    assert.equal(again.result.skipped, false);
    assert.equal(o2.skipped_call_cap, 0);
    assert.equal(o2.approximated, o.approximated);
    // Entities settled in the first run (failed ones included: they wait for rerun --failed) are not redone.
    const recs2 = new Map((await records(again.result.artifact.key)).map((r) => [r.index, r]));
    for (const r of recs.filter((x) => x.outcome !== 'skipped_call_cap')) assert.equal(recs2.get(r.index)!.workflowRunId, r.workflowRunId, `entity ${r.entityId} (${r.outcome}) was not redone`);
    assert.ok(o2.failed_format >= o.failed_format && o2.failed_transport >= o.failed_transport);
    assert.notEqual(again.result.artifact.contentHash, first.result.artifact.contentHash);
    assert.equal(again.result.artifact.key, first.result.artifact.key);
  });
}

for (const mode of ENTITY_WORKFLOWS) {
  test(`refine [entityWorkflows: ${mode}]: filter strategy: n samples with seeds 0..n-1, kept by the judge; a finished stage is skipped; lookupOnly; reset + rerun rewrites`, async () => {
    const runId = `filter-${mode}-${Date.now()}`;
    const config = refineConfig({ refine: { strategy: 'filter', filterSamples: 3, entityWorkflows: mode, batchSize: 7 }, llm: { simulator: { model: `sim-refine-filter-${mode}` } } });
    const s = await simulatorFor(t.store, data.ingest.key, config, t.stateDir, { behaviour: { flagRight: 0.5 } });
    try {
      await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: s.registry } as object }, async ({ config: c }) => {
        const start = (workflowId: string, cfg: R4ecConfig, lookupOnly = false) =>
          t.client.workflow.execute('refineKnowledgeWorkflow', {
            taskQueue: c.queues.cpu.name,
            workflowId,
            args: [{ runId, config: cfg, artifacts: { ingest: data.ingest }, domain: 'item', lookupOnly }],
          }) as Promise<Result>;
        const first = await start(`${runId}/refine/item`, c);
        const o = first.summary.outcomes;
        assert.equal(o.accepted_first + o.budget_exhausted, first.summary.entities, JSON.stringify(o));
        assert.ok(o.accepted_first > 0 && o.budget_exhausted > 0, JSON.stringify(o));
        const recs = await records(first.artifact.key);
        for (const r of recs) {
          assert.deepEqual(r.steps.map((x) => x.seed), [0, 1, 2]);
          assert.deepEqual(r.r4ec!.kept, r.steps.map((x) => x.judgement!.reasonable));
          assert.equal(r.outcome, r.r4ec!.kept!.some(Boolean) ? 'accepted_first' : 'budget_exhausted');
          assert.equal(r.r2ec, r.steps[0]!.text);
        }
        const r4ec = await knowledge(first.artifact.key, 'item', 'r4ec');
        assert.ok(r4ec.every((l) => l.texts.length === 3 && l.kept?.length === 3));

        // The progress query answers from the finished stage workflow.
        const p = (await t.client.workflow.getHandle(`${runId}/refine/item`).query('progress')) as { done: number; total: number; outcomes: Record<string, number> };
        assert.deepEqual([p.done, p.total, p.outcomes.accepted_first], [first.summary.entities, first.summary.entities, o.accepted_first]);

        const again = await start(`${runId}/refine/item-again`, c);
        assert.deepEqual([again.skipped, again.artifact, again.summary.llm.calls], [true, first.artifact, 0]);
        const looked = await start(`${runId}/refine/item-lookup`, c, true);
        assert.equal(looked.artifact.contentHash, first.artifact.contentHash);
        await assert.rejects(start(`${runId}/refine/item-missing`, { ...c, refine: { ...c.refine, filterSamples: 2 } }, true), (e: Error) => {
          const cause = (e as { cause?: { type?: string } }).cause;
          return cause?.type === 'StageOutputMissing';
        });

        // Batch mode runs no workflow for an entity that did not fail (none fails here): nothing to reset.
        if (mode !== 'all') {
          assert.ok(recs.every((r) => r.workflowRunId.startsWith('batch/')), 'every record written by a batch');
          return;
        }
        // `temporal workflow reset` of one entity redoes it (every call a cache hit); rerun --failed then
        // sees a record newer than the output and rewrites it.
        const entity = recs[0]!;
        const { execFileSync } = await import('node:child_process');
        const { temporalBinary } = await import('../../runtime/paths');
        execFileSync(temporalBinary(), ['workflow', 'reset', '--address', t.address, '--workflow-id', entity.workflowId, '--type', 'FirstWorkflowTask', '--reason', 'test'], { stdio: 'pipe' });
        await t.client.workflow.getHandle(entity.workflowId).result();
        const rerun = (await t.client.workflow.execute('rerunFailedRefineWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: `${runId}/refine-rerun`,
          args: [{ runId, domains: ['item'] }],
        })) as { domains: { item: { rerun: number; artifact: { key: string; contentHash: string } } } };
        assert.equal(rerun.domains.item.rerun, 0);
        assert.notEqual(rerun.domains.item.artifact.contentHash, first.artifact.contentHash);
        const reset = (await records(first.artifact.key)).find((r) => r.index === entity.index)!;
        assert.deepEqual([reset.attempts, reset.r4ec], [2, entity.r4ec]);
        assert.notEqual(reset.workflowRunId, entity.workflowRunId);
      });
    } finally {
      await s.close();
    }
  });
}
