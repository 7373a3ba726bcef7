import type { QueueKind } from '../config/names';
import { loadConfig } from '../runtime/config';
import { handleError } from '../runtime/handle-error';
import { runWithLifecycle } from '../runtime/lifecycle';
import { runWorkerProcess } from './main';

/** Shared by workers/<queue>.ts: `--config FILE` or $R4EC_CONFIG; address from config or $R4EC__TEMPORAL__ADDRESS. */
export async function workerEntry(queue: QueueKind): Promise<void> {
  const code = await runWithLifecycle(async (life) => {
    life.signalIsStop = true;
    const i = process.argv.indexOf('--config');
    const path = i > 0 ? process.argv[i + 1] : process.env.R4EC_CONFIG;
    const { config } = loadConfig({ path });
    await runWorkerProcess({ config, queues: [queue], life, onReady: () => console.error(`[r4ec] worker ${config.queues[queue].name} ready`) });
    return 0;
  }, (err) => handleError(err));
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}
