// One bootstrap for every task queue: connection, activities for the queue, slots from config,
// graceful shutdown on SIGINT/SIGTERM. Workflows run on the cpu queue's worker.
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { QueueKind } from '../config/names';
import type { R4ecConfig } from '../config/schema';
import { createActivities, type ActivityDeps } from '../activities';
import { devicePoolFor } from '../core/python-job/devices';
import { LlmEndpoints } from './llm-endpoints';

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  config: R4ecConfig;
  deps: ActivityDeps;
  queues: QueueKind[];
  dataConverter?: DataConverter;
  /** A prebuilt bundle (tests bundle once per process); otherwise bundled from workflows/. */
  workflowBundle?: WorkflowBundleWithSourceMap;
}

let bundlePromise: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundling takes seconds: do it once per process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundlePromise ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
  return bundlePromise;
}

const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

/** Resources a worker owns beyond the SDK's (the llm worker's simulator), closed after it stops. */
const resources = new WeakMap<Worker, () => Promise<void>>();

export async function closeWorkerResources(workers: Worker[]): Promise<void> {
  for (const w of workers) await resources.get(w)?.();
}

export async function createWorkers(setup: WorkerSetup): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (const queue of setup.queues) {
    const q = setup.config.queues[queue];
    const isWorkflowQueue = queue === 'cpu';
    let deps = setup.deps;
    let endpoints: LlmEndpoints | undefined;
    if (queue === 'llm' && !deps.llm) {
      endpoints = await LlmEndpoints.create({ config: setup.config, stateDir: deps.stateDir, store: deps.store, env: deps.env });
      deps = { ...deps, llm: endpoints.registry, ensureSimulatorCatalog: (key) => endpoints!.ensureCatalog(key) };
    }
    if (queue === 'gpu' && !deps.devices) {
      const devices = devicePoolFor(setup.config.queues.gpu.devices, deps.env);
      if (devices) deps = { ...deps, devices };
    }
    const activities = createActivities(queue, deps);
    // A queue with no activities in this build has nothing to poll for.
    if (!isWorkflowQueue && Object.keys(activities).length === 0) continue;
    workers.push(
      await Worker.create({
        connection: setup.connection,
        namespace: setup.namespace,
        taskQueue: q.name,
        activities,
        maxConcurrentActivityTaskExecutions: q.slots,
        ...(isWorkflowQueue ? { workflowBundle: setup.workflowBundle ?? (await workflowBundle()) } : {}),
        ...(setup.dataConverter ? { dataConverter: setup.dataConverter } : {}),
        // On a stop (Ctrl-C, SIGTERM) running activities get 2 s to finish, are then cancelled (a
        // trainer's process is stopped, an LLM call aborted; the server retries them when a worker is
        // back) and the worker gives up waiting at 6 s: a stop takes seconds, not the length of a job.
        shutdownGraceTime: '2 seconds',
        shutdownForceTime: '6 seconds',
        // Trainers heartbeat their step/epoch: let it reach the server (progress, Web UI) every few
        // seconds instead of the SDK's default of up to a minute.
        ...(queue === 'gpu' ? { maxHeartbeatThrottleInterval: '5 seconds' } : {}),
      }),
    );
    if (endpoints) resources.set(workers[workers.length - 1]!, () => endpoints!.close());
  }
  return workers;
}

/** Runs the workers until SIGINT/SIGTERM (or `signal`), then drains them gracefully. */
export async function runWorkers(workers: Worker[], signal?: AbortSignal): Promise<void> {
  const stop = () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown());
  signal?.addEventListener('abort', stop);
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await closeWorkerResources(workers);
  }
}

let runtimeInstalled = false;

/**
 * Installs the SDK runtime once per process: log level from $R4EC_LOG_LEVEL (default WARN), and
 * Prometheus metrics from the SDK runtime when a port is configured. With `signals` (the default),
 * SIGINT/SIGTERM drain workers; the CLI passes false and stops everything through its lifecycle
 * (the SDK's own handlers would swallow a signal that arrives before the workers run).
 */
export function installRuntime(metricsPort: number | undefined, env: NodeJS.ProcessEnv = process.env, opts: { signals?: boolean } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (env.R4EC_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  Runtime.install({
    // The llm/gpu workers have no workflows by design: drop that warning, keep every other line.
    logger: new DefaultLogger(level, (entry) => {
      if (entry.message.startsWith('No workflows registered')) return;
      const meta = entry.meta && Object.keys(entry.meta).length ? ` ${JSON.stringify(entry.meta)}` : '';
      process.stderr.write(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}\n`);
    }),
    telemetryOptions: {
      // Core (Rust) logs go through the logger above to stderr: stdout stays clean for --json.
      logging: { filter: { core: level, other: level }, forward: {} },
      ...(metricsPort !== undefined ? { metrics: { prometheus: { bindAddress: `0.0.0.0:${metricsPort}` } } } : {}),
    },
    shutdownSignals: opts.signals === false ? [] : ['SIGINT', 'SIGTERM'],
  });
}
