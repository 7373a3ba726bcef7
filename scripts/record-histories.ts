// Records workflow histories into test/histories/ for the replay tests. Run after a deliberate,
// compatible change to a recorded workflow: `npx tsx scripts/record-histories.ts`.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { temporalBinary } from '../runtime/paths';
import { startTestTemporal, withWorkers } from '../test/helpers/temporal';

async function main(): Promise<void> {
  const t = await startTestTemporal();
  try {
    await withWorkers(t, { queues: ['cpu'] }, async ({ config }) => {
      const handle = await t.client.workflow.start('smokeWorkflow', {
        taskQueue: config.queues.cpu.name,
        workflowId: 'replay-smoke',
        args: [{ key: 'smoke/replay', text: 'recorded', workMs: 300 }],
      });
      await handle.result();
      // The CLI's JSON is the canonical history format (what the Web UI downloads, what replay reads).
      const json = execFileSync(temporalBinary(), ['workflow', 'show', '--address', t.address, '-w', handle.workflowId, '-o', 'json']);
      writeFileSync(resolve(__dirname, '..', 'test', 'histories', 'smoke.json'), json);
    });
  } finally {
    await t.close();
  }
}

void main();
