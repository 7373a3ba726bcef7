import { loadConfig } from '../../runtime/config';
import { dataConverterFor } from '../../runtime/connection';
import { QUEUE_KINDS } from '../../config/names';
import { str, type Command } from '../args';
import { ensureServer, startWorkers } from '../local';

export const upCommand: Command = {
  name: 'up',
  summary: 'start the local Temporal dev server (SQLite under $R4EC_STATE_DIR, Web UI) and workers for every queue, in the foreground',
  usage: 'r4ec up [--config FILE] [--port 7233] [--ui-port 8233] [--no-workers]',
  options: {
    config: { type: 'string', description: 'config file (YAML/JSON); default: the embedded default' },
    port: { type: 'string', description: 'Temporal frontend port (default 7233)' },
    'ui-port': { type: 'string', description: 'Web UI port (default 8233)' },
    'no-workers': { type: 'boolean', description: 'only the server (run workers elsewhere with `r4ec worker`)' },
  },
  details: 'Stopping (Ctrl-C) and starting again loses nothing: the SQLite file keeps open workflows, which resume.',
  async run({ values }, life) {
    // A signal is how `up` is meant to stop: exit 0, everything it started stopped.
    life.signalIsStop = true;
    const env = { ...process.env };
    if (str(values.port)) env.R4EC__TEMPORAL__DEV_SERVER__PORT = str(values.port);
    if (str(values['ui-port'])) env.R4EC__TEMPORAL__DEV_SERVER__UI_PORT = str(values['ui-port']);
    const { config } = loadConfig({ path: str(values.config), env });
    // The workers' codec key is checked before the server starts.
    if (!values['no-workers']) dataConverterFor(config, env);
    const { address, uiUrl, server } = await ensureServer({ ...config, temporal: { ...config.temporal, address: undefined } }, env, life);
    process.stderr.write(`Temporal Web UI: ${uiUrl}\nTemporal frontend: ${address} (namespace ${config.temporal.namespace})${server?.attached ? ' — joined the server another r4ec process of this state dir runs' : ''}\n`);
    const workers = values['no-workers'] ? undefined : await startWorkers(config, address, env, life, [...QUEUE_KINDS]);
    if (workers) process.stderr.write(`workers: ${QUEUE_KINDS.map((q) => config.queues[q].name).join(', ')}\n`);
    process.stderr.write('Ctrl-C stops everything; state is kept.\n');
    await (workers ? Promise.race([workers.done, life.aborted]) : life.aborted);
    return 0;
  },
};
