// runWindowedFanout on a real dev server: every unit runs exactly once under its derived id, never
// more than `window` at a time, continue-as-new carries offset and outcomes, `progress` answers
// mid-run, known outcomes start no child, and a child failure fails the parent unless tolerated.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FanoutProgress } from '../../workflows/fanout';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal';
import type { FanoutParentInput, FanoutTestActivities } from './workflows';

let t: TestTemporal;
let bundle: WorkflowBundleWithSourceMap;
before(async () => {
  t = await startTestTemporal();
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
});
after(async () => {
  await t?.close();
});

function units(n: number, done: Set<number>) {
  return Array.from({ length: n }, (_, i) => ({ id: `u${i}`, ...(done.has(i) ? { doneOutcome: 'known' } : {}) }));
}

async function runParent(input: FanoutParentInput, done = new Set<number>(), onRunning?: (id: string) => Promise<void>) {
  const all = units(input.total, done);
  const started: string[] = [];
  let inside = 0;
  let maxInside = 0;
  const activities: FanoutTestActivities = {
    async listUnits({ offset, limit }) {
      return all.slice(offset, offset + limit);
    },
    async hold({ id, ms }) {
      started.push(id);
      inside++;
      maxInside = Math.max(maxInside, inside);
      await new Promise((r) => setTimeout(r, ms));
      inside--;
    },
  };
  const taskQueue = `fanout-${Math.random().toString(36).slice(2, 8)}`;
  const worker = await Worker.create({
    connection: t.env.nativeConnection,
    namespace: t.namespace,
    taskQueue,
    workflowBundle: bundle,
    activities,
    maxConcurrentActivityTaskExecutions: 100,
  });
  const workflowId = `fanout-parent-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
  const result = await worker.runUntil(async () => {
    const h = await t.client.workflow.start('fanoutParentWorkflow', { taskQueue, workflowId, args: [input] });
    if (onRunning) await onRunning(workflowId);
    return h.result() as Promise<{ offset: number; done: number; outcomes: Record<string, number>; runs: number }>;
  });
  return { result, started, maxInside, workflowId };
}

test('fan-out: each unit once, bounded window, continue-as-new with carry, derived child ids, progress', async () => {
  const total = 30;
  const done = new Set([4, 5, 25]);
  const seen: FanoutProgress[] = [];
  const { result, started, maxInside, workflowId } = await runParent({ total, window: 4, batchPerRun: 12, holdMs: 250 }, done, async (id) => {
    // The progress query answers on the workflow id whichever run of the chain is current.
    for (let i = 0; i < 200 && (seen.length === 0 || seen[seen.length - 1]!.done < 15); i++) {
      try {
        seen.push(await t.client.workflow.getHandle(id).query<FanoutProgress>('progress'));
      } catch {
        /* not yet answering */
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const expectedIds = units(total, done).filter((u) => !u.doneOutcome).map((u) => u.id);
  assert.deepEqual([...started].sort(), [...expectedIds].sort(), 'every unit without a known outcome ran exactly once');
  assert.ok(maxInside <= 4, `at most window=4 children at once (saw ${maxInside})`);
  // A loaded machine may not overlap all four; it must overlap some (the window is a bound, not a queue of one).
  assert.ok(maxInside >= 2, `children ran concurrently (saw at most ${maxInside})`);
  assert.equal(result.runs, 3, '30 units / 12 per run → 3 runs (continue-as-new twice)');
  assert.equal(result.offset, total);
  assert.equal(result.done, total);
  const three = expectedIds.filter((id) => Number(id.slice(1)) % 3 === 0).length;
  assert.deepEqual(result.outcomes, { three, other: expectedIds.length - three, known: 3 });
  assert.ok(seen.length > 0, 'progress answered while running');
  for (const p of seen) {
    assert.equal(p.total, total);
    assert.ok(p.done <= total);
    assert.equal(Object.values(p.outcomes).reduce((a, b) => a + b, 0), p.done);
  }
  assert.ok(seen.some((p) => p.done > 0 && p.done < total), 'a mid-run progress was observed');
  const child = await t.client.workflow.getHandle(`${workflowId}/u7`).describe();
  assert.equal(child.status.name, 'COMPLETED');
  assert.equal(child.parentExecution?.workflowId, workflowId, 'children belong to the stage workflow');
});

test('fan-out: a failing child fails the stage unless the caller maps it to an outcome', async () => {
  await assert.rejects(runParent({ total: 6, window: 2, batchPerRun: 10, holdMs: 5, failId: 'u2' }), (e: unknown) => e instanceof WorkflowFailedError);
  const { result } = await runParent({ total: 6, window: 2, batchPerRun: 10, holdMs: 5, failId: 'u2', tolerateFailures: true });
  assert.equal(result.outcomes.child_failed, 1);
  assert.equal(result.done, 6);
});
