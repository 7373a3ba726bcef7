import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { StageOutput } from '../../core/store';
import { startTestTemporal, withWorkers, type TestTemporal } from '../helpers/temporal';

let t: TestTemporal;
before(async () => {
  t = await startTestTemporal();
});
after(async () => {
  await t?.close();
});

test('smoke workflow: workflow → activity → store on a real dev server, with search attributes', async () => {
  await withWorkers(t, { queues: ['cpu'] }, async ({ config }) => {
    const workflowId = `smoke-${Date.now()}`;
    const out = await t.client.workflow.execute('smokeWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId,
      args: [{ key: 'smoke/one', text: 'hello store' }],
    });
    assert.equal(out.key, 'smoke/one');
    assert.equal(out.reused, false);
    assert.equal((await t.store.get('smoke/one/text.txt')).toString(), 'hello store');
    const so = new StageOutput(t.store, 'smoke/one');
    assert.equal(await so.contentHash(), out.contentHash);

    const desc = await t.client.workflow.getHandle(workflowId).describe();
    assert.deepEqual(desc.searchAttributes.R4ecRunId, [workflowId]);
    assert.deepEqual(desc.searchAttributes.R4ecStage, ['smoke']);

    // A second run with the same key finds the complete output and does not write again.
    const again = await t.client.workflow.execute('smokeWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: `${workflowId}-again`,
      args: [{ key: 'smoke/one', text: 'other text' }],
    });
    assert.equal(again.reused, true);
    assert.equal((await t.store.get('smoke/one/text.txt')).toString(), 'hello store');
  });
});
