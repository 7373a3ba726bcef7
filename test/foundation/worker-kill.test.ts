import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawnWorker, waitExit } from '../helpers/processes';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('a worker killed (SIGKILL) mid-activity and restarted: the workflow completes, the artifact is written once', async () => {
  const queue = `r4ec-cpu-kill-${Date.now()}`;
  const env = { R4EC__QUEUES__CPU__NAME: queue };
  const first = spawnWorker({ queue: 'cpu', address: t.address, stateDir: t.stateDir, env });
  await first.ready;
  const handle = await t.client.workflow.start('smokeWorkflow', {
    taskQueue: queue,
    workflowId: `kill-${Date.now()}`,
    args: [{ key: 'smoke/killed', text: 'survives', workMs: 8000 }],
  });
  // Wait until the activity is running and has heartbeated, then kill the worker hard.
  for (let i = 0; ; i++) {
    const d = await handle.describe();
    const pending = d.raw.pendingActivities?.[0];
    if (pending?.heartbeatDetails) break;
    assert.ok(i < 200, 'activity never started');
    await new Promise((r) => setTimeout(r, 100));
  }
  first.kill('SIGKILL');
  await waitExit(first);
  assert.equal(await t.store.exists('smoke/killed/_manifest.json'), false, 'nothing complete before the activity finished');

  const second = spawnWorker({ queue: 'cpu', address: t.address, stateDir: t.stateDir, env });
  try {
    await second.ready;
    const result = await handle.result();
    assert.equal(result.reused, false);
    assert.equal((await t.store.get('smoke/killed/text.txt')).toString(), 'survives');
    const writes = readFileSync(join(t.stateDir, 'logs', 'smoke-writes.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { key: string; attempt: number });
    const mine = writes.filter((w) => w.key === 'smoke/killed');
    assert.equal(mine.length, 1, 'exactly one completed write');
    assert.ok(mine[0]!.attempt >= 2, 'the write came from the retried attempt on the new worker');
  } finally {
    second.kill('SIGTERM');
    assert.equal(await waitExit(second), 0, 'SIGTERM drains the worker and exits cleanly');
  }
});
