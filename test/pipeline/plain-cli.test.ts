// DESIGN.md "Started from anywhere": the pipeline starts with the plain Temporal CLI and its input
// is the plain JSON config; a `temporal workflow reset` to a stage's start redoes that stage and the
// later ones only.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
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
}

test('temporal workflow start --input-file cfg.json runs the whole DAG; reset to the train stage redoes train and report only', async () => {
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

    // Reset to the workflow task right before the train child was started.
    const history = JSON.parse(cli('workflow', 'show', '-w', id, '-o', 'json')) as { events: Array<{ eventId: string; eventType: string; startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId: string } }> };
    const trainStart = history.events.find((e) => e.eventType === 'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED' && e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `${id}/train`);
    assert.ok(trainStart, 'train child started');
    const taskBefore = [...history.events].reverse().find((e) => Number(e.eventId) < Number(trainStart.eventId) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
    cli('workflow', 'reset', '-w', id, '--event-id', taskBefore!.eventId, '--reason', 'redo train', '--yes');
    const again = (await t.client.workflow.getHandle(id).result()) as Summary;
    assert.equal(again.stages.train?.status === 'completed' || again.stages.train?.status === 'skipped', true);
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
