import { WorkflowNotFoundError } from '@temporalio/client';
import { R4ecError } from '../../core/errors';
import type { RunSummary, StageProgress } from '../../workflows/run-summary';
import { str, type Command } from '../args';
import { clientFor } from '../client';

const runOption = { type: 'string' as const, description: 'run id (the pipeline workflow id)' };
const configOption = { type: 'string' as const, description: 'config file (for the Temporal connection)' };

function requireRun(v: unknown): string {
  const run = typeof v === 'string' ? v : undefined;
  if (!run) throw new R4ecError('--run ID is required', 'bad_arguments', { suggestion: 'find run ids with `temporal workflow list --query \'WorkflowType="r4ecPipelineWorkflow"\'`', exitCode: 2 });
  return run;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show a run: state, per-stage status and times, and its summary when finished',
  usage: 'r4ec status --run ID [--json] [--config FILE]',
  options: { run: runOption, json: { type: 'boolean', description: 'machine-readable output' }, config: configOption },
  async run({ values }, life) {
    const runId = requireRun(values.run);
    const { client, close } = await clientFor(str(values.config), life);
    try {
      const handle = client.workflow.getHandle(runId);
      let desc;
      try {
        desc = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new R4ecError(`no run "${runId}"`, 'run_not_found', { suggestion: 'check the id in the Web UI' });
        throw err;
      }
      const state = desc.status.name;
      let stages: Partial<Record<string, StageProgress>> | undefined;
      let summary: RunSummary | undefined;
      if (state === 'RUNNING') stages = (await handle.query<{ stages: Partial<Record<string, StageProgress>> }>('progress')).stages;
      else if (state === 'COMPLETED') summary = (await handle.result()) as RunSummary;
      if (values.json) {
        process.stdout.write(JSON.stringify({ runId, state, startTime: desc.startTime, closeTime: desc.closeTime ?? null, ...(stages ? { stages } : {}), ...(summary ? { summary } : {}) }) + '\n');
      } else {
        process.stdout.write(`run ${runId}: ${state} (started ${desc.startTime.toISOString()}${desc.closeTime ? `, closed ${desc.closeTime.toISOString()}` : ''})\n`);
        const rows = stages ?? summary?.stages ?? {};
        for (const [s, p] of Object.entries(rows)) if (p) process.stdout.write(`  ${s.padEnd(10)} ${p.status.padEnd(10)} ${p.seconds.toFixed(1)}s\n`);
      }
      return 0;
    } finally {
      await close();
    }
  },
};

export const cancelCommand: Command = {
  name: 'cancel',
  summary: 'cancel a run: running activities are cancelled (trainer processes stop, checkpoints are kept)',
  usage: 'r4ec cancel --run ID [--config FILE]',
  options: { run: runOption, config: configOption },
  async run({ values }, life) {
    const runId = requireRun(values.run);
    const { client, close } = await clientFor(str(values.config), life);
    try {
      await client.workflow.getHandle(runId).cancel();
      process.stderr.write(`cancellation requested for ${runId}\n`);
      return 0;
    } finally {
      await close();
    }
  },
};
