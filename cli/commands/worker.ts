import { loadConfig } from '../../runtime/config';
import { QUEUE_KINDS, type QueueKind } from '../../config/names';
import { R4ecError } from '../../core/errors';
import { setupClusterAtWorkerStart } from '../../runtime/cluster-setup';
import { runWorkerProcess } from '../../workers/main';
import { str, type Command } from '../args';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'run workers for one or more task queues against the configured Temporal (default: the local dev server)',
  usage: 'r4ec worker --queue cpu|llm|gpu[,…] [--config FILE]',
  options: {
    queue: { type: 'string', description: 'cpu, llm, gpu or a comma list' },
    config: { type: 'string', description: 'config file (temporal address/namespace/TLS, queues and slots, store)' },
  },
  details: 'Run any number of these on any number of machines; each queue scales by adding workers.',
  async run({ values }, life) {
    life.signalIsStop = true;
    const queues = (str(values.queue) ?? '').split(',').filter(Boolean);
    const bad = queues.filter((q) => !(QUEUE_KINDS as readonly string[]).includes(q));
    if (queues.length === 0 || bad.length) {
      throw new R4ecError(`--queue must be one or more of ${QUEUE_KINDS.join(', ')}${bad.length ? ` (got ${bad.join(', ')})` : ''}`, 'bad_arguments', { suggestion: 'r4ec worker --queue cpu', exitCode: 2 });
    }
    const { config } = loadConfig({ path: str(values.config) });
    const address = config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
    await setupClusterAtWorkerStart(config, address, process.env, (s) => process.stderr.write(s));
    await runWorkerProcess({ config, queues: queues as QueueKind[], life, onReady: () => process.stderr.write(`[r4ec] workers ready: ${queues.map((q) => config.queues[q as QueueKind].name).join(', ')}\n`) });
    return 0;
  },
};
