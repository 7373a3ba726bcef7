// Started from anywhere (docs/DESIGN.md, "CLI contract"): the pipeline starts with the plain Temporal CLI and its input is the plain
// JSON config; a `temporal workflow reset` to a stage's start redoes that stage and the later ones
// only. Here the train stage's outputs are gone before the reset (as after a lost or deleted model
// store), so "redoes" is visible: the models are trained again, not found.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { temporalBinary } from '../../runtime/paths';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { smallPipelineConfig } from '../helpers/pipeline';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

interface Summary {
  stages: Record<string, { status: string; skipped: boolean }>;
  ingest: { users: number };
  construct: { outcomes: Record<string, Record<string, number>> };
  refine: { outcomes: Record<string, Record<string, number>> };
  train: { features: string; floor: { auc: number }; results: Record<string, Record<string, { auc: number }>> };
  llm: { calls: number };
  artifacts: { train?: { key: string } };
}

test('temporal workflow start --input-file cfg.json runs the whole DAG; reset to the train stage retrains the models and redoes train and report only', async () => {
  const raw = await smallPipelineConfig(t.stateDir);
  const base = testConfig(raw);
  await withWorkers(t, { config: base }, async ({ config }) => {
    // The plain JSON config, as an operator would write it (queue names of this test's workers).
    const input = { ...raw, queues: { cpu: { name: config.queues.cpu.name }, llm: { name: config.queues.llm.name }, gpu: { name: config.queues.gpu.name } } };
    const file = join(t.stateDir, 'cfg.json');
    writeFileSync(file, JSON.stringify(input));
    const id = `plain-cli-${Date.now()}`;
    const cli = (...args: string[]) => execFileSync(temporalBinary(), [...args, '--address', t.address], { encoding: 'utf8' });
    cli('workflow', 'start', '--task-queue', config.queues.cpu.name, '--type', 'r4ecPipelineWorkflow', '--workflow-id', id, '--input-file', file);
    const summary = (await t.client.workflow.getHandle(id).result()) as Summary;
    for (const s of ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report']) assert.equal(summary.stages[s]?.status, 'completed', `${s}: ${JSON.stringify(summary.stages[s])}`);
    assert.equal(summary.ingest.users, 60);
    assert.ok(Object.values(summary.construct.outcomes.user ?? {}).reduce((a, b) => a + b, 0) > 0);
    assert.ok(summary.llm.calls > 0);
    assert.ok(summary.train.results.deepfm?.base && summary.train.results.deepfm?.r4ec, JSON.stringify(summary.train));

    // Lose every train output: the stage's and each model's (models.json maps job → model key).
    const trainKey = summary.artifacts.train!.key;
    const models = JSON.parse((await t.store.get(`${trainKey}/models.json`)).toString()) as Record<string, string>;
    assert.ok(Object.keys(models).length >= 3, `the floor and two models: ${Object.keys(models).join(', ')}`);
    for (const key of [trainKey, ...Object.values(models)]) for (const obj of await t.store.list(`${key}/`)) await t.store.delete(obj);
    assert.equal(await t.store.exists(`${trainKey}/_manifest.json`), false);
    const firstTrainRun = (await t.client.workflow.getHandle(`${id}/train`).describe()).runId;

    // Reset to the workflow task right before the train child was started.
    const history = JSON.parse(cli('workflow', 'show', '-w', id, '-o', 'json')) as { events: Array<{ eventId: string; eventType: string; startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId: string } }> };
    const trainStart = history.events.find((e) => e.eventType === 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED' && e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `${id}/train`);
    assert.ok(trainStart, 'train child started');
    const taskBefore = [...history.events].reverse().find((e) => Number(e.eventId) < Number(trainStart.eventId) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
    const resetAt = Date.now();
    cli('workflow', 'reset', '-w', id, '--event-id', taskBefore!.eventId, '--reason', 'redo train', '--yes');
    const again = (await t.client.workflow.getHandle(id).result()) as Summary;
    assert.deepEqual(again.stages.train && [again.stages.train.status, again.stages.train.skipped], ['completed', false], 'train computed, not found');
    assert.deepEqual(Object.keys(again.train.results.deepfm ?? {}).sort(), ['base', 'r4ec']);
    assert.equal(again.artifacts.train?.key, trainKey, 'the same inputs give the same key');

    // A new execution of the train stage workflow that trained every model again...
    const trainRun = await t.client.workflow.getHandle(`${id}/train`).describe();
    assert.notEqual(trainRun.runId, firstTrainRun, 'the reset started the train stage workflow again');
    const trainEvents = (await t.client.workflow.getHandle(`${id}/train`, trainRun.runId).fetchHistory()).events ?? [];
    const trained = trainEvents.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainBackbone').length;
    assert.equal(trained, Object.keys(models).length, `every model trained again (${trained} trainBackbone activities)`);
    // ...whose model files are new.
    for (const [job, key] of Object.entries(models)) {
      assert.ok(await t.store.exists(`${key}/_manifest.json`), `${job}: model output committed again`);
      const mtime = statSync(await t.store.localPath(`${key}/_manifest.json`)).mtimeMs;
      assert.ok(mtime >= resetAt - 1000, `${job}: committed after the reset`);
    }
    assert.ok(await t.store.exists(`${trainKey}/_manifest.json`), 'the train stage output is committed again');
    const after = JSON.parse(cli('workflow', 'show', '-w', id, '-o', 'json')) as typeof history;
    const children = after.events
      .filter((e) => e.eventType === 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED')
      .map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId.slice(id.length + 1));
    // The reset run's history carries the earlier stages' completions up to the reset point; the
    // children started after it are exactly train and report.
    const afterReset = children.slice(children.indexOf('train'));
    assert.deepEqual(afterReset, ['train', 'report']);
    assert.equal(new Set(children).size, children.length, `no stage started twice: ${children.join(', ')}`);
  });
});
