import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { workflowBundle } from '../../workers/bootstrap';

const dir = resolve(__dirname, '..', 'histories');
const recorded = readdirSync(dir).filter((f) => f.endsWith('.json'));

test('committed histories replay against the current workflow code', async () => {
  assert.ok(recorded.length > 0, 'no histories recorded in test/histories');
  const bundle = await workflowBundle();
  for (const file of recorded) {
    const history = historyFromJSON(JSON.parse(readFileSync(resolve(dir, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, file.replace(/\.json$/, ''));
  }
});

test('a changed workflow fails replay with DeterminismViolationError', async () => {
  const history = historyFromJSON(JSON.parse(readFileSync(resolve(dir, 'smoke.json'), 'utf8')));
  const changed = await bundleWorkflowCode({ workflowsPath: resolve(dir, 'nondeterministic-workflows.ts'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  await assert.rejects(Worker.runReplayHistory({ workflowBundle: changed }, history, 'smoke-changed'), (err: unknown) => err instanceof DeterminismViolationError);
});
