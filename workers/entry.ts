import type { QueueKind } from '../config/names';
import { loadConfig } from '../runtime/config';
import { handleError } from '../runtime/handle-error';
import { runWorkerProcess } from './main';

/** Shared by workers/<queue>.ts: `--config FILE` or $R4EC_CONFIG; address from config or $R4EC__TEMPORAL__ADDRESS. */
export async function workerEntry(queue: QueueKind): Promise<void> {
  try {
    const i = process.argv.indexOf('--config');
    const path = i > 0 ? process.argv[i + 1] : process.env.R4EC_CONFIG;
    const { config } = loadConfig({ path });
    await runWorkerProcess({ config, queues: [queue], onReady: () => console.error(`[r4ec] worker ${config.queues[queue].name} ready`) });
  } catch (err) {
    process.exitCode = handleError(err);
  }
}
