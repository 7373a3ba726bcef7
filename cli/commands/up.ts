import { loadConfig } from '../../runtime/config';
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
  async run({ values }) {
    const env = { ...process.env };
    if (str(values.port)) env.R4EC__TEMPORAL__DEV_SERVER__PORT = str(values.port);
    if (str(values['ui-port'])) env.R4EC__TEMPORAL__DEV_SERVER__UI_PORT = str(values['ui-port']);
    const { config } = loadConfig({ path: str(values.config), env });
    const { address, uiUrl, server } = await ensureServer({ ...config, temporal: { ...config.temporal, address: undefined } }, env);
    process.stderr.write(`Temporal Web UI: ${uiUrl}\nTemporal frontend: ${address} (namespace ${config.temporal.namespace})${server && !server.process ? ' — attached to a running server' : ''}\n`);
    const workers = values['no-workers'] ? undefined : await startWorkers(config, address, env, [...QUEUE_KINDS]);
    if (workers) process.stderr.write(`workers: ${QUEUE_KINDS.map((q) => config.queues[q].name).join(', ')}\n`);
    process.stderr.write('Ctrl-C stops everything; state is kept.\n');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await workers?.stop();
    await server?.stop();
    return 0;
  },
};
