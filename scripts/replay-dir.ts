// Replays every history JSON in a directory (`temporal workflow show -o json`, or the Web UI's
// download) against the current workflow code: `npx tsx scripts/replay-dir.ts DIR`. A workflow change
// that would break executions in flight fails here with the history's name.
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../workers/bootstrap';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: npx tsx scripts/replay-dir.ts DIR');
  const bundle = await workflowBundle();
  // ids.json (optional): [{ file, workflowId }], for workflows that read their own id.
  let ids = new Map<string, string>();
  try {
    ids = new Map((JSON.parse(readFileSync(resolve(dir, 'ids.json'), 'utf8')) as Array<{ file: string; workflowId: string }>).map((e) => [e.file, e.workflowId]));
  } catch {
    /* none */
  }
  let failed = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json' && f !== 'ids.json')) {
    const raw: unknown = JSON.parse(readFileSync(resolve(dir, file), 'utf8'));
    try {
      await Worker.runReplayHistory({ workflowBundle: bundle }, historyFromJSON(raw), ids.get(file) ?? file.replace(/\.json$/, ''));
      console.log(`ok      ${file}`);
    } catch (e) {
      failed++;
      console.log(`FAILED  ${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}

void main();
