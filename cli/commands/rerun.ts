// `r4ec rerun --run X --failed`: new entity workflows for exactly the entities whose refine outcome
// is failed_format/failed_transport, then the pipeline again under the same run id: refine's output
// changed, so encode, train and report redo; everything else is skipped by its key.
import { loadConfig } from '../../runtime/config';
import { R4ecError } from '../../core/errors';
import { workflowIds } from '../../core/rules';
import { openStore } from '../../core/store';
import { PIPELINE_WORKFLOW_TYPE } from '../../config/names';
import { stateDirFrom } from '../../runtime/paths';
import { str, type Command } from '../args';
import { clientFor } from '../client';
import { ensureServer, startWorkers } from '../local';
import { runSummaryOf } from './report';

export const rerunCommand: Command = {
  name: 'rerun',
  summary: "redo a run's failed entities (--failed), then the stages downstream of them",
  usage: 'r4ec rerun --run ID --failed [--config FILE] [--no-pipeline]',
  options: {
    run: { type: 'string', description: 'run id' },
    failed: { type: 'boolean', description: 'rerun the entities with outcome failed_format / failed_transport' },
    'no-pipeline': { type: 'boolean', description: 'only repair the refine output; do not restart the pipeline' },
    config: { type: 'string', description: 'config file (connection, store)' },
  },
  details:
    'The same failed entities are listed by the Web UI query\n' +
    '  R4ecRunId="ID" AND R4ecOutcome IN ("failed_format","failed_transport")\n' +
    'and `temporal workflow reset` of a single entity workflow is the manual equivalent.',
  async run({ values }, life) {
    const runId = str(values.run);
    if (!runId || !values.failed) throw new R4ecError('usage: r4ec rerun --run ID --failed', 'bad_arguments', { exitCode: 2 });
    const { config } = loadConfig({ path: str(values.config) });
    // Local default: make sure the dev server and workers are up (attach to `r4ec up` if running).
    const server = config.temporal.address ? undefined : await ensureServer(config, process.env, life);
    if (server) await startWorkers(config, server.address, process.env, life);
    const { client } = await clientFor(str(values.config), life);
    const rerun = (await client.workflow.execute('rerunFailedRefineWorkflow', {
      taskQueue: config.queues.cpu.name,
      workflowId: workflowIds.rerunFailed(runId, Date.now()),
      args: [{ runId }],
    })) as { domains: Record<string, { rerun?: number; outcomes?: Record<string, number>; found?: false }> };
    for (const [d, r] of Object.entries(rerun.domains)) {
      process.stderr.write(`refine ${d}: ${r.found === false ? 'no refine output in this run' : `${r.rerun ?? 0} entities rerun → ${JSON.stringify(r.outcomes ?? {})}`}\n`);
    }
    if (values['no-pipeline']) return 0;
    const { summary } = await runSummaryOf(str(values.config), runId);
    const store = openStore(config.store, stateDirFrom(process.env, config.stateDir));
    const cfgKey = (await store.list(`runs/${encodeURIComponent(runId)}/`)).find((k) => k.includes(`config-${summary.configHash.slice(0, 16)}`));
    if (!cfgKey) throw new R4ecError(`the config of run ${runId} is not in the store`, 'run_config_missing', { suggestion: `start it again with \`r4ec run --run-id ${runId} --config …\`` });
    const raw: unknown = JSON.parse((await store.get(cfgKey)).toString());
    const handle = await client.workflow.start(PIPELINE_WORKFLOW_TYPE, {
      taskQueue: config.queues.cpu.name,
      workflowId: runId,
      args: [raw],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    const s = (await handle.result()) as { stages: Record<string, { status: string }> };
    process.stderr.write(`pipeline ${runId}: ${Object.entries(s.stages).map(([k, v]) => `${k}=${v.status}`).join(' ')}\n`);
    process.stdout.write(JSON.stringify(s) + '\n');
    return 0;
  },
};
