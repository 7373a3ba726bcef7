// The CLI's progress view against a real dev server: a stage workflow that has closed is described,
// never queried (a query on a closed workflow replays its whole history on a worker; here its queue
// has no worker left at all), a new execution under the same id is queried again, and job stages
// show each running job's heartbeat.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ProgressView } from '../../cli/progress';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal';
import type { JobActivities } from './progress-workflows';

let t: TestTemporal;
let bundle: WorkflowBundleWithSourceMap;
before(async () => {
  t = await startTestTemporal();
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./progress-workflows'), logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error } });
});
after(async () => {
  await t?.close();
});

/** A terminal-mode view whose last frame can be read back. */
function capture() {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const view = new ProgressView(out as unknown as NodeJS.WriteStream, true);
  // The last frame: what follows the last cursor-up (or everything before the first redraw).
  const frame = () => text.slice(text.lastIndexOf('\x1b[1A') + 1);
  return { view, frame };
}

function queue(name: string) {
  return `${name}-${Math.random().toString(36).slice(2, 8)}`;
}

async function startWorker(taskQueue: string, activities: object = {}) {
  const worker = await Worker.create({ connection: t.env.nativeConnection, namespace: t.namespace, taskQueue, workflowBundle: bundle, activities });
  const running = worker.run();
  return { worker, stop: async () => (worker.shutdown(), await running) };
}

async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('a finished domain stage keeps its count without being queried; the running one is queried', async () => {
  const qa = queue('progress-a');
  const qb = queue('progress-b');
  const a = await startWorker(qa);
  const b = await startWorker(qb);
  const runId = `progress-run-${Date.now()}`;
  try {
    const pipeline = await t.client.workflow.start('fakePipelineWorkflow', { taskQueue: qb, workflowId: runId, args: [{ stage: 'refine', startedAt: Date.now() }] });
    const item = await t.client.workflow.start('fakeDomainStageWorkflow', { taskQueue: qa, workflowId: `${runId}/refine/item`, args: [{ done: 1, total: 3 }] });
    const user = await t.client.workflow.start('fakeDomainStageWorkflow', { taskQueue: qb, workflowId: `${runId}/refine/user`, args: [{ done: 2, total: 5 }] });
    const { view, frame } = capture();

    await view.poll(t.client, runId);
    assert.match(frame(), /▸ refine\s+running \d+s \[#+-+\] 3\/8/);

    await item.signal('finish');
    await item.result();
    await a.stop(); // nothing can answer a query on the item stage's queue any more
    await within(10_000, view.poll(t.client, runId), 'a poll after the item stage closed');
    assert.match(frame(), / 5\/8/, 'the closed item stage counts as 3/3 from its last answer, the user stage 2/5');

    await user.signal('finish');
    await user.result();
    await within(10_000, view.poll(t.client, runId), 'a poll after both closed');
    assert.match(frame(), / 8\/8/);

    // The run is run again: a new execution under the same id is queried, not taken for the old one.
    const again = await t.client.workflow.start('fakeDomainStageWorkflow', { taskQueue: qb, workflowId: `${runId}/refine/item`, args: [{ done: 0, total: 4 }] });
    await within(10_000, view.poll(t.client, runId), 'a poll after the item stage started again');
    assert.match(frame(), / 5\/9/, 'user 5/5 from its last answer, the new item execution 0/4');
    await again.signal('finish');
    await again.result();
    await pipeline.signal('finish');
    await pipeline.result();
  } finally {
    await b.stop();
  }
});

test('train shows each running job with the epoch from its heartbeat', async () => {
  const q = queue('progress-jobs');
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  const activities: JobActivities = {
    async trainOne({ job, epoch, epochs }) {
      Context.current().heartbeat({ event: 'epoch', job, epoch, epochs });
      await released;
    },
  };
  const w = await startWorker(q, activities);
  const runId = `progress-jobs-${Date.now()}`;
  try {
    const pipeline = await t.client.workflow.start('fakePipelineWorkflow', { taskQueue: q, workflowId: runId, args: [{ stage: 'train', startedAt: Date.now() }] });
    const stage = await t.client.workflow.start('fakeJobStageWorkflow', { taskQueue: q, workflowId: `${runId}/train`, args: [{ job: 'paper/dien/kar/seed-0', epoch: 2, epochs: 5 }] });
    const { view, frame } = capture();
    const deadline = Date.now() + 15_000;
    for (;;) {
      await view.poll(t.client, runId);
      if (/paper\/dien\/kar\/seed-0 epoch 2\/5/.test(frame()) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match(frame(), /▸ train\s+running \d+s \[#+-+\] 1\/3 · paper\/dien\/kar\/seed-0 epoch 2\/5/);
    release();
    await stage.result();
    await pipeline.signal('finish');
    await pipeline.result();
  } finally {
    release();
    await w.stop();
  }
});
