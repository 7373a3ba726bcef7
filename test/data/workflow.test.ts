// ingestDatasetWorkflow on a real dev server with in-process workers: the default (synthetic)
// config works out of the box, a second run reuses the dataset, bad data fails once with DataError.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { StageOutput } from '../../core/store';
import type { StageInput } from '../../workflows/stage-types';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { makeFixture, ratingLines } from './fixtures';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('ingestDatasetWorkflow: synthetic by default, summary block, search attributes, reuse on rerun', async () => {
  await withWorkers(t, { queues: ['cpu'] }, async ({ config }) => {
    const runId = `ingest-wf-${Date.now()}`;
    const input: StageInput = { runId, config, artifacts: {} };
    const first = await t.client.workflow.execute('ingestDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/ingest`, args: [input] });
    assert.equal(first.skipped, false);
    assert.deepEqual(Object.keys(first.summary).sort(), ['duplicatesDropped', 'items', 'test', 'testPositive', 'train', 'trainPositive', 'users']);
    assert.equal(first.summary.users, 300);
    const out = new StageOutput(t.store, first.artifact.key);
    assert.ok(await out.isComplete());
    assert.equal(await out.contentHash(), first.artifact.contentHash);
    const desc = await t.client.workflow.getHandle(`${runId}/ingest`).describe();
    assert.deepEqual(desc.searchAttributes.R4ecStage, ['ingest']);
    assert.deepEqual(desc.searchAttributes.R4ecRunId, [runId]);

    const second = await t.client.workflow.execute('ingestDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId: `${runId}/ingest-again`, args: [input] });
    assert.equal(second.skipped, true);
    assert.deepEqual(second.artifact, first.artifact);
    assert.deepEqual(second.summary, first.summary);
  });
});

test('ingestDatasetWorkflow: a bad file fails the workflow with a non-retryable DataError after one attempt', async () => {
  const f = makeFixture({ ratings: ratingLines().map((l, i) => (i === 6 ? '2::3::0::978300760' : l)) });
  const before = await t.store.list('ingest/');
  try {
    await withWorkers(t, { queues: ['cpu'], config: testConfig({ dataset: { kind: 'ml-1m', path: f.dir } }) }, async ({ config }) => {
      const workflowId = `ingest-bad-${Date.now()}`;
      const input: StageInput = { runId: workflowId, config, artifacts: {} };
      await assert.rejects(t.client.workflow.execute('ingestDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId, args: [input] }), (e: unknown) => {
        assert.ok(e instanceof WorkflowFailedError);
        assert.ok(e.cause instanceof ActivityFailure);
        const cause = e.cause.cause;
        assert.ok(cause instanceof ApplicationFailure);
        assert.equal(cause.type, 'DataError');
        assert.match(cause.message, /ratings\.dat:7: field "Rating"/);
        return true;
      });
      const history = await t.client.workflow.getHandle(workflowId).fetchHistory();
      const started = (history.events ?? []).filter((ev) => ev.activityTaskStartedEventAttributes);
      assert.equal(started.length, 1, 'not retried');
      assert.equal(started[0]!.activityTaskStartedEventAttributes!.attempt, 1);
    });
    assert.deepEqual(await t.store.list('ingest/'), before, 'nothing new in the store');
  } finally {
    f.cleanup();
  }
});

test('ingestDatasetWorkflow: a repeated line fails with both locations and the suggestion in the failure details', async () => {
  const lines = ratingLines();
  const f = makeFixture({ ratings: [...lines, lines[2]!] });
  try {
    await withWorkers(t, { queues: ['cpu'], config: testConfig({ dataset: { kind: 'ml-1m', path: f.dir } }) }, async ({ config }) => {
      const workflowId = `ingest-dup-${Date.now()}`;
      const input: StageInput = { runId: workflowId, config, artifacts: {} };
      await assert.rejects(t.client.workflow.execute('ingestDatasetWorkflow', { taskQueue: config.queues.cpu.name, workflowId, args: [input] }), (e: unknown) => {
        assert.ok(e instanceof WorkflowFailedError);
        const cause = (e.cause as ActivityFailure).cause as ApplicationFailure;
        assert.equal(cause.type, 'DataError');
        assert.match(cause.message, new RegExp(`ratings\\.dat:${lines.length + 1}: .*ratings\\.dat:3\\b`));
        const d = cause.details?.[0] as Record<string, unknown>;
        assert.equal(d.line, lines.length + 1);
        assert.equal(d.field, 'UserID::MovieID::Timestamp');
        assert.ok(typeof d.expected === 'string' && typeof d.found === 'string');
        assert.deepEqual((d.related as { line: number }[]).map((r) => r.line), [3]);
        assert.match(String(d.suggestion), /dataset\.duplicates: drop/);
        return true;
      });
    });
  } finally {
    f.cleanup();
  }
});
