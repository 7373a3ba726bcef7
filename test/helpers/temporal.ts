// Workflow tests run on a real dev server (the project's Temporal CLI) on a free port, started and
// stopped by the test. Nothing is mocked at this level.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { QueueKind } from '../../config/names';
import { R4ecConfigSchema, type R4ecConfig, type R4ecConfigInput } from '../../config/schema';
import { openStore, type ArtifactStore } from '../../core/store';
import { SEARCH_ATTRIBUTE_KEYS } from '../../workflows/search-attributes';
import type { ActivityDeps } from '../../activities';
import { closeWorkerResources, createWorkers, installRuntime } from '../../workers/bootstrap';
import { temporalBinary, pythonBinary } from '../../runtime/paths';

export interface TestTemporal {
  env: TestWorkflowEnvironment;
  client: Client;
  /** host:port of the server (for worker subprocesses and the temporal CLI). */
  address: string;
  namespace: string;
  /** A fresh state dir (store, caches, logs) removed by close(). */
  stateDir: string;
  store: ArtifactStore;
  close(): Promise<void>;
}

/** `stateDir`: a fixed folder (emptied first) instead of a temp one, so paths in payloads are stable. */
export async function startTestTemporal(opts: { keepStateDir?: boolean; dbFilename?: string; extraArgs?: string[]; stateDir?: string } = {}): Promise<TestTemporal> {
  installRuntime(undefined);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalBinary() },
      ip: '127.0.0.1',
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
      log: { format: 'pretty', level: 'error' },
      ...(opts.dbFilename ? { dbFilename: opts.dbFilename } : {}),
      ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
    },
  });
  let stateDir: string;
  if (opts.stateDir) {
    rmSync(opts.stateDir, { recursive: true, force: true });
    mkdirSync(opts.stateDir, { recursive: true });
    stateDir = opts.stateDir;
  } else stateDir = mkdtempSync(join(tmpdir(), 'r4ec-test-'));
  return {
    env,
    client: env.client,
    address: env.address,
    namespace: env.namespace ?? 'default',
    stateDir,
    store: openStore({ kind: 'local' }, stateDir),
    async close() {
      await env.teardown();
      if (!opts.keepStateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export function testConfig(overrides: R4ecConfigInput = {}): R4ecConfig {
  return R4ecConfigSchema.parse(overrides);
}

/**
 * Runs in-process workers for the given queues while `fn` runs, then shuts them down.
 * Unique task queue names per call keep tests in one server apart (`queueSuffix` fixes the suffix,
 * for recordings whose payloads should not change from run to run).
 */
export async function withWorkers<T>(
  t: TestTemporal,
  opts: { queues?: QueueKind[]; config?: R4ecConfig; deps?: Partial<ActivityDeps>; dataConverter?: DataConverter; queueSuffix?: string },
  fn: (ctx: { config: R4ecConfig; workers: Worker[] }) => Promise<T>,
): Promise<T> {
  const suffix = opts.queueSuffix ?? Math.random().toString(36).slice(2, 8);
  const base = opts.config ?? testConfig();
  const config: R4ecConfig = {
    ...base,
    queues: {
      cpu: { ...base.queues.cpu, name: `${base.queues.cpu.name}-${suffix}` },
      llm: { ...base.queues.llm, name: `${base.queues.llm.name}-${suffix}` },
      gpu: { ...base.queues.gpu, name: `${base.queues.gpu.name}-${suffix}` },
    },
  };
  const workers = await createWorkers({
    connection: t.env.nativeConnection,
    namespace: t.namespace,
    config,
    queues: opts.queues ?? ['cpu', 'llm', 'gpu'],
    deps: { store: t.store, stateDir: t.stateDir, env: process.env, python: pythonBinary(), ...opts.deps },
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  });
  const running = workers.map((w) => w.run());
  try {
    return await fn({ config, workers });
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.allSettled(running);
    await closeWorkerResources(workers);
  }
}
