// A worker process for one or more task queues (`r4ec worker --queue cpu`, workers/<queue>.ts).
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { QueueKind } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { openStore } from '../core/store';
import { createWorkers, installRuntime, runWorkers } from './bootstrap';
import { connectWorker, dataConverterFor, resolveTemporal } from '../runtime/connection';
import { pythonBinary, stateDirFrom } from '../runtime/paths';

export interface WorkerProcessOptions {
  config: R4ecConfig;
  queues: QueueKind[];
  /** Overrides config.temporal.address (e.g. the local dev server `r4ec up` started). */
  address?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onReady?: () => void;
}

/** Connection + workers for the queues, with the store, state dir and codec from config and env. */
export async function connectWorkers(config: R4ecConfig, address: string, env: NodeJS.ProcessEnv, queues: QueueKind[]): Promise<{ workers: Worker[]; connection: NativeConnection }> {
  installRuntime(config.metrics.port, env);
  const stateDir = stateDirFrom(env, config.stateDir);
  const temporal = resolveTemporal(config, address, env);
  const connection = await connectWorker(temporal);
  const dataConverter = dataConverterFor(config, env);
  const workers = await createWorkers({
    connection,
    namespace: temporal.namespace,
    config,
    queues,
    deps: { store: openStore(config.store, stateDir), stateDir, env, python: pythonBinary(env) },
    ...(dataConverter ? { dataConverter } : {}),
  });
  return { workers, connection };
}

export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<void> {
  const env = opts.env ?? process.env;
  const { config } = opts;
  const address = opts.address ?? config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
  const { workers, connection } = await connectWorkers(config, address, env, opts.queues);
  opts.onReady?.();
  try {
    await runWorkers(workers, opts.signal);
  } finally {
    await connection.close();
  }
}
