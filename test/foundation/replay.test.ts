// Replay of recorded histories: every history in test/histories/ (listed in its index.json) must
// replay against the current workflow code, and a deliberately changed workflow must not.
//
// The histories come from one command, `npx tsx scripts/record-histories.ts` (a small synthetic
// pipeline run on a local dev server, a few minutes): the pipeline, each stage workflow, a fan-out's
// first and last run across continue-as-new, one construct and one refine entity workflow, a LoRA
// job and the smoke workflow.
//
// When this test fails after you changed a workflow, the change is not replay-safe: an execution
// started before it (one in flight when the workers are upgraded, or one a `temporal workflow
// reset` replays) would fail with a DeterminismViolationError on the new workers. Decide which it is:
// - executions of the old code may still be running somewhere: keep the old path behind
//   `patched('<change-id>')` (`deprecatePatch` once none are left), so old histories replay and new
//   runs take the new path; this test then passes unchanged;
// - no execution of the old code will ever be replayed (nothing deployed runs it, or all such runs
//   are finished and will not be reset): re-record with the command above and commit the new
//   histories with the change, saying so in the commit message.
// A change that only moves code without changing the commands a workflow issues replays clean and
// needs neither.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { before, test } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type ReplayResult, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { installRuntime, workflowBundle } from '../../workers/bootstrap';

const dir = resolve(__dirname, '..', 'histories');

interface IndexEntry {
  file: string;
  workflowType: string;
  workflowId: string;
  events: number;
}

const index = (JSON.parse(readFileSync(resolve(dir, 'index.json'), 'utf8')) as { histories: IndexEntry[] }).histories;

function histories(entries: IndexEntry[]): HistoryAndWorkflowId[] {
  return entries.map((e) => {
    const history = historyFromJSON(JSON.parse(readFileSync(resolve(dir, e.file), 'utf8')));
    assert.equal(history.events?.length, e.events, `${e.file}: the index says ${e.events} events`);
    return { workflowId: e.workflowId, history };
  });
}

/** Replays the entries in order; results come back in the same order (checked by workflow id). */
async function replay(bundle: WorkflowBundleWithSourceMap, entries: IndexEntry[]): Promise<Array<{ entry: IndexEntry; result: ReplayResult }>> {
  const out: Array<{ entry: IndexEntry; result: ReplayResult }> = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories(entries))) {
    const entry = entries[out.length]!;
    assert.equal(result.workflowId, entry.workflowId, 'replay results arrive in input order');
    out.push({ entry, result });
  }
  assert.equal(out.length, entries.length, 'one result per history');
  return out;
}

let current: WorkflowBundleWithSourceMap;
before(async () => {
  // The expected nondeterminism of the changed bundle would be logged at WARN: the asserts say it.
  installRuntime(undefined, { R4EC_LOG_LEVEL: 'ERROR' });
  current = await workflowBundle();
});

test('every recorded history (at least 5 workflow types, a fan-out across continue-as-new) replays against the current workflow code', async () => {
  const types = new Set(index.map((e) => e.workflowType));
  assert.ok(types.size >= 5, `histories of ${types.size} workflow types: ${[...types].join(', ')}`);
  for (const t of ['r4ecPipelineWorkflow', 'fineTuneWorkflow', 'refineEntityWorkflow', 'constructInferenceWorkflow']) assert.ok(types.has(t), `no history of ${t}`);
  const firstRuns = index.filter((e) => e.file.endsWith('.first-run.json'));
  assert.ok(firstRuns.length > 0, 'a fan-out run that continued as new');
  for (const e of firstRuns) {
    const events = (JSON.parse(readFileSync(resolve(dir, e.file), 'utf8')) as { events: Array<{ eventType: string }> }).events;
    assert.equal(events.at(-1)!.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW', `${e.file} ends in continue-as-new`);
  }

  const failed = (await replay(current, index)).filter(({ result }) => result.error).map(({ entry, result }) => `${entry.file}: ${result.error!.message}`);
  assert.deepEqual(failed, [], 'histories that no longer replay (see the top of this file)');
});

test('a changed workflow (an extra timer first, or an extra activity last) fails replay with DeterminismViolationError; the unchanged ones still replay', async () => {
  const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./changed-workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  const changedTypes = new Set(['r4ecPipelineWorkflow', 'refineEntityWorkflow']);
  const results = await replay(changed, index);
  assert.deepEqual(new Set(results.filter(({ entry }) => changedTypes.has(entry.workflowType)).map(({ entry }) => entry.workflowType)), changedTypes, 'both changed types have recorded histories');
  for (const { entry, result } of results) {
    if (changedTypes.has(entry.workflowType)) {
      assert.ok(result.error instanceof DeterminismViolationError, `${entry.file}: expected a DeterminismViolationError, got ${result.error ? `${result.error.name}: ${result.error.message}` : 'a clean replay'}`);
    } else {
      assert.equal(result.error, undefined, `${entry.file} (unchanged) failed: ${result.error?.message}`);
    }
  }
});
