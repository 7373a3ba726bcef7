// The embedded default: when no Temporal address is configured, r4ec runs its own dev server and
// workers for every queue in this process (the simulator LLM is started by the llm worker on demand).
import type { R4ecConfig } from '../config/schema';
import { closeWorkerResources } from '../workers/bootstrap';
import { connectWorkers } from '../workers/main';
import { startDevServer, type DevServer } from '../runtime/dev-server';
import { stateDirFrom } from '../runtime/paths';
import type { Worker } from '@temporalio/worker';

export interface LocalStack {
  address: string;
  uiUrl: string;
  server: DevServer | undefined;
  stop(): Promise<void>;
}

/** Dev server (attached if one already listens) — only when `temporal.address` is absent. */
export async function ensureServer(config: R4ecConfig, env: NodeJS.ProcessEnv): Promise<{ address: string; uiUrl: string; server?: DevServer }> {
  if (config.temporal.address) return { address: config.temporal.address, uiUrl: env.R4EC_WEB_UI ?? 'https://cloud.temporal.io' };
  const stateDir = stateDirFrom(env, config.stateDir);
  const server = await startDevServer({
    stateDir,
    port: config.temporal.devServer.port,
    uiPort: config.temporal.devServer.uiPort,
    sync: config.temporal.devServer.sync,
    namespace: config.temporal.namespace,
    env,
  });
  return { address: server.address, uiUrl: server.uiUrl, server };
}

/** In-process workers for the given queues; returns a stop function that drains them. */
export async function startWorkers(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv, queues: Array<'cpu' | 'llm' | 'gpu'> = ['cpu', 'llm', 'gpu']): Promise<{ workers: Worker[]; done: Promise<void>; stop(): Promise<void> }> {
  const { workers, connection } = await connectWorkers(config, address, env, queues);
  const done = Promise.all(workers.map((w) => w.run())).then(async () => {
    await closeWorkerResources(workers);
    await connection.close();
  });
  return {
    workers,
    done,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}
