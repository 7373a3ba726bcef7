// Weekly retraining and friends as Temporal Schedules: overlap skip, catch-up window from config,
// each fired run's workflow id = the schedule id plus the fire time (Temporal appends it).
import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { PIPELINE_WORKFLOW_TYPE } from '../../config/names';
import { R4ecError } from '../../core/errors';
import { str, type Command } from '../args';
import { clientFor } from '../client';

const configOption = { type: 'string' as const, description: 'config file: the pipeline config the schedule runs, and the connection' };
const idOption = { type: 'string' as const, description: 'schedule id' };

function requireId(v: unknown): string {
  if (typeof v !== 'string' || !v) throw new R4ecError('--id is required', 'bad_arguments', { suggestion: 'see `r4ec schedule list`', exitCode: 2 });
  return v;
}

async function withSchedule(values: Record<string, unknown>, fn: (h: ReturnType<Awaited<ReturnType<typeof clientFor>>['client']['schedule']['getHandle']>) => Promise<string>): Promise<number> {
  const id = requireId(values.id);
  const { client, close } = await clientFor(str(values.config as string));
  try {
    process.stderr.write((await fn(client.schedule.getHandle(id))) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) throw new R4ecError(`no schedule "${id}"`, 'schedule_not_found', { suggestion: 'see `r4ec schedule list`' });
    throw err;
  } finally {
    await close();
  }
}

export const scheduleCreateCommand: Command = {
  name: 'schedule create',
  summary: 'create a Temporal Schedule that runs the pipeline (e.g. weekly retraining)',
  usage: 'r4ec schedule create --cron "0 3 * * 0" --config FILE [--id ID] [--paused]',
  options: {
    cron: { type: 'string', description: 'cron expression (UTC)' },
    config: configOption,
    id: { type: 'string', description: 'schedule id (default: r4ec-<config name>)' },
    paused: { type: 'boolean', description: 'create it paused' },
  },
  async run({ values }) {
    const cron = str(values.cron);
    if (!cron) throw new R4ecError('--cron is required', 'bad_arguments', { suggestion: 'e.g. --cron "0 3 * * 0" (Sundays 03:00 UTC)', exitCode: 2 });
    const { client, loaded, close } = await clientFor(str(values.config));
    const id = str(values.id) ?? `r4ec-${loaded.config.name}`;
    try {
      await client.schedule.create({
        scheduleId: id,
        spec: { cronExpressions: [cron] },
        action: { type: 'startWorkflow', workflowType: PIPELINE_WORKFLOW_TYPE, taskQueue: loaded.config.queues.cpu.name, workflowId: id, args: [loaded.raw] },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: `${loaded.config.schedule.catchupWindowSeconds} seconds` },
        state: { paused: Boolean(values.paused), note: `created by r4ec from ${loaded.source}` },
      });
      process.stderr.write(`schedule ${id} created (${cron}); runs start as workflows "${id}-<fire time>"\n`);
      return 0;
    } finally {
      await close();
    }
  },
};

export const scheduleListCommand: Command = {
  name: 'schedule list',
  summary: 'list schedules',
  usage: 'r4ec schedule list [--config FILE] [--json]',
  options: { config: configOption, json: { type: 'boolean', description: 'one JSON object per line' } },
  async run({ values }) {
    const { client, close } = await clientFor(str(values.config));
    try {
      for await (const s of client.schedule.list()) {
        const row = { id: s.scheduleId, paused: s.state.paused, cron: s.spec?.calendars?.length ?? 0, nextActionTimes: s.info.nextActionTimes.map((d) => d.toISOString()), recentActions: s.info.recentActions.length };
        process.stdout.write(values.json ? JSON.stringify(row) + '\n' : `${row.id.padEnd(32)} ${row.paused ? 'paused ' : 'active '} next ${row.nextActionTimes[0] ?? '-'}\n`);
      }
      return 0;
    } finally {
      await close();
    }
  },
};

export const schedulePauseCommand: Command = {
  name: 'schedule pause',
  summary: 'pause a schedule (or --resume it)',
  usage: 'r4ec schedule pause --id ID [--resume] [--config FILE]',
  options: { id: idOption, resume: { type: 'boolean', description: 'unpause instead' }, config: configOption },
  run: ({ values }) =>
    withSchedule(values, async (h) => {
      if (values.resume) await h.unpause('resumed by r4ec');
      else await h.pause('paused by r4ec');
      return `schedule ${h.scheduleId} ${values.resume ? 'resumed' : 'paused'}`;
    }),
};

export const scheduleTriggerCommand: Command = {
  name: 'schedule trigger',
  summary: 'start a run of the schedule now',
  usage: 'r4ec schedule trigger --id ID [--config FILE]',
  options: { id: idOption, config: configOption },
  run: ({ values }) =>
    withSchedule(values, async (h) => {
      await h.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
      return `schedule ${h.scheduleId} triggered`;
    }),
};

export const scheduleDeleteCommand: Command = {
  name: 'schedule delete',
  summary: 'delete a schedule (runs already started go on)',
  usage: 'r4ec schedule delete --id ID [--config FILE]',
  options: { id: idOption, config: configOption },
  run: ({ values }) =>
    withSchedule(values, async (h) => {
      await h.delete();
      return `schedule ${h.scheduleId} deleted`;
    }),
};
