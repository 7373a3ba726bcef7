// constructDatasetWorkflow on a real dev server with in-process workers and the simulator as the
// teacher: every outcome is reached (seeded faults), the output is a valid chat-format D_reason /
// D_reflect / D_refine with a manifest and report, no prompt or record shows a test-split
// interaction, outcomes are search attributes, and a second run is skipped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { CONSTRUCT_OUTCOMES } from '../../config/names';
import { ConstructReportSchema, REPORT_FILE } from '../../core/construct';
import type { PromptSpec } from '../../core/prompts/builders';
import { buildPrompt } from '../../core/prompts/builders';
import { StageOutput } from '../../core/store';
import type { ConstructSummary } from '../../workflows/construct';
import type { DomainStageInput, StageResult } from '../../workflows/stage-types';
import { ingestSynthetic } from '../helpers/dataset';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { checkPromptHistories, readOutput, SplitIndex } from './helpers';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

/** Every askTeacher input (the prompt spec) of every inference child of a run. */
async function teacherPrompts(runId: string): Promise<Map<string, PromptSpec[]>> {
  const out = new Map<string, PromptSpec[]>();
  for await (const wf of t.client.workflow.list({ query: `R4ecRunId = "${runId}" AND WorkflowType = "constructInferenceWorkflow"` })) {
    const h = await t.client.workflow.getHandle(wf.workflowId).fetchHistory();
    const specs: PromptSpec[] = [];
    for (const ev of h.events ?? []) {
      const a = ev.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name !== 'askTeacher') continue;
      specs.push(defaultPayloadConverter.fromPayload<{ prompt: PromptSpec }>(a.input!.payloads![0]!).prompt);
    }
    out.set(wf.workflowId, specs);
  }
  return out;
}

test('construct: every outcome, valid datasets, no test-split interaction anywhere, outcomes searchable, rerun skipped', async () => {
  const data = (await ingestSynthetic(t.store, { users: 40, items: 70, seed: 3 })).ingest;
  const config = testConfig({
    construct: { sampleFraction: 0.5, window: 16, batchPerRun: 25 },
    // Seeded faults make the rare branches happen: an unparsable answer with no re-ask left is
    // failed_format; a 500 with a single attempt is failed_transport.
    llm: { formatRetries: 1, transport: { maxAttempts: 1, initialIntervalMs: 100 }, simulator: { model: 'sim-construct-wf', malformedRate: 0.2, serverErrorRate: 0.04 } },
    queues: { llm: { slots: 8 } },
  });
  await withWorkers(t, { queues: ['cpu', 'llm'], config }, async ({ config }) => {
    const runId = `construct-wf-${Date.now()}`;
    const results: Record<string, StageResult<ConstructSummary>> = {};
    for (const domain of ['user', 'item'] as const) {
      const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain };
      results[domain] = await t.client.workflow.execute('constructDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/construct/${domain}`, args: [input] });
    }
    const idx = await SplitIndex.load(t.store, data.key);
    const prompts = await teacherPrompts(runId);
    const seen = new Set<string>();
    let checked = 0;
    for (const domain of ['user', 'item'] as const) {
      const r = results[domain]!;
      assert.equal(r.skipped, false);
      const out = new StageOutput(t.store, r.artifact.key);
      assert.equal(await out.contentHash(), r.artifact.contentHash);
      const files = await readOutput(t.store, r.artifact.key);
      const report = ConstructReportSchema.parse(JSON.parse((await t.store.get(`${r.artifact.key}/${REPORT_FILE}`)).toString()));
      // 40%-style sampling (here 50%), two inferences each, every one accounted for.
      assert.equal(report.sampled, Math.round(report.eligible * 0.5));
      assert.equal(files.manifest.length, report.sampled * 2);
      assert.equal(report.inferences, files.manifest.length);
      assert.deepEqual(r.summary.outcomes, report.outcomes);
      assert.equal(Object.values(report.outcomes).reduce((a, b) => a + b, 0), files.manifest.length);
      assert.deepEqual(r.summary.records, { reason: files.records.reason.length, reflect: files.records.reflect.length, refine: files.records.refine.length });
      assert.ok(r.summary.llm.calls > files.manifest.length, 'at least one call per inference');
      assert.ok(r.summary.llm.promptTokens > 0 && r.summary.llm.completionTokens > 0);
      for (const m of files.manifest) {
        seen.add(m.outcome);
        assert.deepEqual(new Set(files.manifest.filter((x) => x.entityId === m.entityId).map((x) => x.k)), new Set([0, 1]), 'two inferences per sample');
        assert.equal(m.workflowId, `${runId}/construct/${domain}/${m.entityId}/${m.k}`);
        assert.ok(m.reason.length > 10);
        // Algorithm 1: what each outcome adds.
        const n = { reason: m.lines.reason.length, reflect: m.lines.reflect.length, refine: m.lines.refine.length };
        const expected = m.outcome === 'kept_reason' ? { reason: 1, reflect: 1, refine: 0 } : m.outcome === 'kept_refine' ? { reason: 0, reflect: 1, refine: 1 } : { reason: 0, reflect: 0, refine: 0 };
        assert.deepEqual(n, expected, `${m.workflowId} ${m.outcome}`);
        const prov = m.provenance;
        assert.ok(prov.target.pos < idx.seq.trainEnd[prov.target.user]!, 'the target is a training interaction');
        for (const s of [prov.history, prov.like, prov.dislike]) for (const p of s?.positions ?? []) assert.ok(p < idx.seq.trainEnd[s!.user]!);
        for (const d of ['reason', 'reflect', 'refine'] as const) {
          for (const line of m.lines[d]) {
            const rec = files.records[d][line - 1]!;
            const user = rec.messages[1].content;
            assert.ok(!/Target (Movie|Book) Name|Target User History/.test(user) || domain === 'item', `${d} record prompts carry no target (${m.workflowId})`);
            if (domain === 'item') assert.ok(!user.includes('Target User History'), 'item records show no target user');
            checked += checkPromptHistories(idx, user, prov, domain, `${d}.jsonl:${line}`);
            if (d === 'reflect') assert.match(rec.messages[2].content, /^<Final Judgement>The (user preference|movie knowledge) is (not )?reasonable<\/Final Judgement>\n<Reflection>/);
            else assert.ok(!rec.messages[2].content.includes('<'), 'the actor target is the bare knowledge text');
          }
        }
        // Every construction prompt the teacher saw.
        const specs = prompts.get(m.workflowId) ?? [];
        if (m.outcome !== 'failed_transport') assert.ok(specs.length >= 1, `no teacher call recorded for ${m.workflowId}`);
        for (const spec of specs) {
          assert.equal(spec.variant, 'construct');
          checked += checkPromptHistories(idx, buildPrompt(spec).map((x) => x.content).join('\n'), prov, domain, `${m.workflowId} ${spec.step}`);
        }
      }
      // Outcomes are search attributes of the children.
      const one = files.manifest[0]!;
      const desc = await t.client.workflow.getHandle(one.workflowId).describe();
      assert.deepEqual(desc.searchAttributes.R4ecOutcome, [one.outcome]);
      assert.deepEqual(desc.searchAttributes.R4ecEntityId, [one.entityId]);
    }
    assert.ok(checked > 500, `checked ${checked} history entries`);
    assert.deepEqual([...seen].sort(), [...CONSTRUCT_OUTCOMES].sort(), 'every construct outcome is reached');

    // Same inputs: the stage is skipped and returns the same artifact and summary.
    const again = await t.client.workflow.execute('constructDatasetWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: `${runId}/construct/user-again`,
      args: [{ runId, config, artifacts: { ingest: data }, domain: 'user' } satisfies DomainStageInput],
    });
    assert.equal(again.skipped, true);
    assert.deepEqual(again.artifact, results.user!.artifact);
    assert.deepEqual(again.summary, results.user!.summary);

    // Not selected and no output for these inputs: StageOutputMissing, nothing computed.
    const other = { ...config, construct: { ...config.construct, seed: 7 } };
    await assert.rejects(
      t.client.workflow.execute('constructDatasetWorkflow', {
        taskQueue: config.queues.cpu.name,
        workflowId: `${runId}/construct/user-lookup`,
        args: [{ runId, config: other, artifacts: { ingest: data }, domain: 'user', lookupOnly: true } satisfies DomainStageInput],
      }),
      (e: unknown) => e instanceof WorkflowFailedError && /not selected in this run/.test(String((e.cause?.cause as Error | undefined)?.message)),
    );
  });
});
