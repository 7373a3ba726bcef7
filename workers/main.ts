// A worker process for one or more task queues (`r4ec worker --queue cpu`, workers/<queue>.ts).
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { QueueKind } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { openStore } from '../core/store';
import { closeWorkerResources, createWorkers, installRuntime } from './bootstrap';
import type { CodecKeyError } from '../runtime/codec';
import { connectWorker, dataConverterFor, resolveTemporal } from '../runtime/connection';
import { checkDevServer } from '../runtime/dev-server';
import type { Lifecycle } from '../runtime/lifecycle';
import { pythonBinary, stateDirFrom } from '../runtime/paths';

export interface WorkerProcessOptions {
  config: R4ecConfig;
  queues: QueueKind[];
  /** Overrides config.temporal.address (e.g. the local dev server `r4ec up` started). */
  address?: string;
  env?: NodeJS.ProcessEnv;
  /** Owns the workers: its signal stops them, a payload the key cannot decode fails it. */
  life: Lifecycle;
  onReady?: () => void;
}

export interface RunningWorkers {
  workers: Worker[];
  /** Settles when every worker has stopped (rejects when one failed). */
  done: Promise<void>;
  /** Drains the workers (running activities get their grace, then are cancelled) and closes the connection. */
  stop(): Promise<void>;
}

/** Connection + workers for the queues, with the store, state dir and codec from config and env. */
export async function connectWorkers(
  config: R4ecConfig,
  address: string,
  env: NodeJS.ProcessEnv,
  queues: QueueKind[],
  opts: { onKeyError?: (err: CodecKeyError) => void } = {},
): Promise<{ workers: Worker[]; connection: NativeConnection }> {
  // The process's lifecycle handles SIGINT/SIGTERM; the SDK's handlers would swallow an early one.
  installRuntime(config.metrics.port, env, { signals: false });
  const stateDir = stateDirFrom(env, config.stateDir);
  const temporal = resolveTemporal(config, address, env);
  const dataConverter = dataConverterFor(config, env, opts);
  const connection = await connectWorker(temporal);
  try {
    const workers = await createWorkers({
      connection,
      namespace: temporal.namespace,
      config,
      queues,
      deps: { store: openStore(config.store, stateDir), stateDir, env, python: pythonBinary(env) },
      dataConverter,
    });
    return { workers, connection };
  } catch (err) {
    // Workers created before the failure keep a reference: then the connection goes with the process.
    await connection.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Starts workers for `queues` and registers them with `life`: a signal drains them; a payload that
 * the codec key cannot decode, or a worker that fails, ends the command with that error.
 */
export async function startWorkers(opts: { config: R4ecConfig; address: string; env: NodeJS.ProcessEnv; queues: QueueKind[]; life: Lifecycle }): Promise<RunningWorkers> {
  const { life } = opts;
  const { workers, connection } = await connectWorkers(opts.config, opts.address, opts.env, opts.queues, { onKeyError: (err) => life.fail(err) });
  let closed = false;
  const done = Promise.all(workers.map((w) => w.run())).then(
    () => undefined,
    (err: unknown) => {
      // A worker that stops on its own (not through stop()) ends the command: nobody would serve the run.
      if (!closed) life.fail(err);
      throw err;
    },
  );
  done.catch(() => undefined);
  const finished = done
    .catch(() => undefined)
    .then(async () => {
      await closeWorkerResources(workers);
      await connection.close();
    });
  const stop = async () => {
    closed = true;
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await finished;
  };
  life.defer(`workers (${opts.queues.map((q) => opts.config.queues[q].name).join(', ')})`, stop);
  life.signal.addEventListener('abort', () => {
    closed = true;
  });
  return { workers, done, stop };
}

/** `r4ec worker` and workers/<queue>.ts: workers until a signal (or a failure), then drained. */
export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<void> {
  const env = opts.env ?? process.env;
  const { config, life } = opts;
  // Without temporal.address: the dev server of this state dir, and no other one.
  const address =
    opts.address ??
    config.temporal.address ??
    (await checkDevServer({ stateDir: stateDirFrom(env, config.stateDir), port: config.temporal.devServer.port, uiPort: config.temporal.devServer.uiPort }));
  const running = await startWorkers({ config, address, env, queues: opts.queues, life });
  opts.onReady?.();
  await Promise.race([running.done, life.aborted]);
}
