// The embedded default: when no Temporal address is configured, r4ec runs its state dir's dev server
// (started here, or joined when another r4ec process of the same state dir runs it) and workers for
// every queue in this process (the simulator LLM is started by the llm worker on demand).
import type { QueueKind } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { startWorkers as startWorkerSet, type RunningWorkers } from '../workers/main';
import { startDevServer, type DevServer } from '../runtime/dev-server';
import type { Lifecycle } from '../runtime/lifecycle';
import { stateDirFrom } from '../runtime/paths';

/**
 * The server to use: `temporal.address` as configured (joined on purpose), else this state dir's dev
 * server, registered with `life` (the last r4ec process of the state dir to stop stops it).
 */
export async function ensureServer(config: R4ecConfig, env: NodeJS.ProcessEnv, life: Lifecycle): Promise<{ address: string; uiUrl: string; server?: DevServer }> {
  if (config.temporal.address) return { address: config.temporal.address, uiUrl: env.R4EC_WEB_UI ?? 'https://cloud.temporal.io' };
  const server = await startDevServer({
    stateDir: stateDirFrom(env, config.stateDir),
    port: config.temporal.devServer.port,
    uiPort: config.temporal.devServer.uiPort,
    sync: config.temporal.devServer.sync,
    namespace: config.temporal.namespace,
    env,
    life,
  });
  return { address: server.address, uiUrl: server.uiUrl, server };
}

/** In-process workers for the given queues, stopped (drained) by `life`. */
export function startWorkers(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv, life: Lifecycle, queues: QueueKind[] = ['cpu', 'llm', 'gpu']): Promise<RunningWorkers> {
  return startWorkerSet({ config, address, env, queues, life });
}
