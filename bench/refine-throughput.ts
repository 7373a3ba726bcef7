// Refine throughput on a real dev server with the simulator (prints figures; not a test).
//
//   npx tsx bench/refine-throughput.ts [--entities 2000] [--latency 0] [--concurrency 16] [--window 64]
//       [--iterations 1] [--strategy iterative|filter] [--cpu-slots 64] [--llm-slots N] [--batch 500]
//       [--workflow-threads N]
//
// - entities/s over the user domain of a synthetic dataset with `--entities` users: at 0 ms latency
//   this is the orchestration ceiling (child workflows, activities, store records).
// - achieved ÷ ideal at a latency L with C concurrent calls: ideal = (C / L) calls/s ÷ calls per entity.
// - calls per entity (requests the simulator answered, over entities) vs the algorithm's minimum:
//   kar + reason + judge = 3 for iterative; kar is a cache hit when teacher and actor are the same model.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { childrenCpuSeconds } from './proc';
import { minimumCalls, workflowIds } from '../core/rules';
import type { RefineStageSummary } from '../workflows/refine';
import type { StageResult } from '../workflows/stage-types';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { LlmRegistry } from '../core/llm/registry';
import { workflowBundle } from '../workers/bootstrap';
import { ingestSynthetic } from '../test/helpers/dataset';
import { spawnSimulator } from '../test/helpers/simulator';
import { refineConfig } from '../test/refine/fixtures';
import { startTestTemporal, withWorkers } from '../test/helpers/temporal';

/** LLM requests the algorithm needs for these outcomes when nothing fails (kar shared with the actor). */
function impliedCalls(o: Record<string, number>, strategy: string, samples: number): number {
  if (strategy === 'filter') return (o.accepted_first! + o.budget_exhausted!) * 2 * samples;
  // accepted_first: reason + judge; after one refinement: + refine + judge (maxIterations = 1 here).
  return o.accepted_first! * 2 + (o.accepted_after_refine! + o.budget_exhausted!) * 4;
}

/** withWorkers, but with the cpu worker's workflow thread pool set (the bootstrap keeps the SDK default). */
function withThreadedWorkers(threads: number): typeof withWorkers {
  return async (t, opts, fn) => {
    const suffix = Math.random().toString(36).slice(2, 8);
    const base = opts.config!;
    const config = { ...base, queues: { ...base.queues, cpu: { ...base.queues.cpu, name: `${base.queues.cpu.name}-${suffix}` }, llm: { ...base.queues.llm, name: `${base.queues.llm.name}-${suffix}` } } };
    const deps = { store: t.store, stateDir: t.stateDir, env: process.env, ...opts.deps } as ActivityDeps;
    const common = { connection: t.env.nativeConnection, namespace: t.namespace };
    const workers = [
      await Worker.create({ ...common, taskQueue: config.queues.cpu.name, activities: createActivities('cpu', deps), maxConcurrentActivityTaskExecutions: config.queues.cpu.slots, workflowBundle: await workflowBundle(), workflowThreadPoolSize: threads }),
      await Worker.create({ ...common, taskQueue: config.queues.llm.name, activities: createActivities('llm', deps), maxConcurrentActivityTaskExecutions: config.queues.llm.slots }),
    ];
    const running = workers.map((w) => w.run());
    try {
      return await fn({ config, workers });
    } finally {
      workers.forEach((w) => w.shutdown());
      await Promise.allSettled(running);
    }
  };
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      entities: { type: 'string', default: '2000' },
      latency: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '16' },
      window: { type: 'string', default: '64' },
      iterations: { type: 'string', default: '1' },
      strategy: { type: 'string', default: 'iterative' },
      'cpu-slots': { type: 'string', default: '64' },
      'llm-slots': { type: 'string' },
      batch: { type: 'string', default: '500' },
      /** Workflow threads of the cpu worker (the SDK's default is 1): a knob for machines with cores to spare. */
      'workflow-threads': { type: 'string' },
    },
  });
  const threads = a['workflow-threads'] === undefined ? undefined : Number(a['workflow-threads']);
  const entities = Number(a.entities);
  const latencyMs = Number(a.latency);
  const concurrency = Number(a.concurrency);
  const strategy = a.strategy === 'filter' ? 'filter' : 'iterative';
  const t = await startTestTemporal();
  try {
    const t0 = performance.now();
    const { ingest } = await ingestSynthetic(t.store, { users: entities, items: 400, seed: 3 });
    console.error(`data: ${entities} users ingested in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const config = refineConfig({
      queues: { cpu: { slots: Number(a['cpu-slots']) }, llm: { slots: Number(a['llm-slots'] ?? concurrency) } },
      llm: { simulator: { latencyMs } },
      refine: { strategy, window: Number(a.window), batchPerRun: Number(a.batch), maxIterations: Number(a.iterations) },
    });
    // The simulator runs in its own process, as an LLM server would; its log counts the requests.
    const simState = mkdtempSync(join(tmpdir(), 'r4ec-bench-sim-'));
    const sim = await spawnSimulator({ catalog: await t.store.localPath(`${ingest.key}/meta.json`), stateDir: simState, latencyMs });
    const registry = new LlmRegistry({ llm: config.llm, stateDir: t.stateDir, env: {}, simulatorUrl: sim.url, simulatorConcurrency: concurrency });
    try {
      const runId = `bench-${Date.now()}`;
      const run = threads === undefined ? withWorkers : withThreadedWorkers(threads);
      const { result, seconds, cpuSeconds } = await run(t, { config, queues: ['cpu', 'llm'], deps: { llm: registry } as object }, async ({ config: c }) => {
        const started = performance.now();
        const cpu0 = process.cpuUsage();
        const notSim = (pid: number) => pid !== sim.pid;
        const server0 = childrenCpuSeconds(notSim);
        const sim0 = childrenCpuSeconds((pid) => pid === sim.pid);
        const result = (await t.client.workflow.execute('refineKnowledgeWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: workflowIds.stage(runId, 'refine', 'user'),
          args: [{ runId, config: c, artifacts: { ingest }, domain: 'user' }],
        })) as StageResult<RefineStageSummary>;
        const cpu = process.cpuUsage(cpu0);
        const cpuSeconds = {
          workers: (cpu.user + cpu.system) / 1e6,
          server: childrenCpuSeconds(notSim) - server0,
          simulator: childrenCpuSeconds((pid) => pid === sim.pid) - sim0,
        };
        return { result, seconds: (performance.now() - started) / 1000, cpuSeconds };
      });
      const n = result.summary.entities;
      const log = sim.requests();
      const requests = log.length;
      const distinct = new Set(log.map((e) => e.hash)).size;
      const perEntity = requests / n;
      const llm = result.summary.llm;
      const figures: Record<string, unknown> = {
        entities: n,
        latencyMs,
        concurrency,
        window: config.refine.window,
        strategy,
        seconds: Number(seconds.toFixed(2)),
        entitiesPerSecond: Number((n / seconds).toFixed(2)),
        callsPerEntity: Number(perEntity.toFixed(3)),
        cacheHitsPerEntity: Number((llm.cacheHits / n).toFixed(3)),
        algorithmMinimumCalls: minimumCalls(strategy, config.refine.filterSamples),
        // What the outcomes imply: reason + judge, plus refine + judge per refinement, plus kar unless
        // it is the actor's own first request (same model, no adapter: no finetune here).
        callsImpliedByOutcomes: config.refine.maxIterations === 1 || strategy === 'filter' ? Number((impliedCalls(result.summary.outcomes, strategy, config.refine.filterSamples) / n).toFixed(3)) : null,
        requestsSentTwice: requests - distinct,
        outcomes: result.summary.outcomes,
        continueAsNewRuns: result.summary.runs,
        // CPU spent per entity: what bounds entities/s on a machine with few (or busy) cores.
        cpuMsPerEntity: Object.fromEntries(Object.entries(cpuSeconds).map(([k, v]) => [k, Math.round((v * 1000) / n)])),
        workflowThreads: threads ?? 'default',
        loadAverage: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(1))),
      };
      if (latencyMs > 0) {
        const ideal = concurrency / (latencyMs / 1000) / perEntity;
        figures.idealEntitiesPerSecond = Number(ideal.toFixed(2));
        figures.achievedOverIdeal = Number((n / seconds / ideal).toFixed(3));
        // On a busy machine the simulator itself answers later than asked: the same ratio against
        // the latency it really served separates its slowness from the orchestration's.
        const served = log.reduce((a, e) => a + (e.latencyMs ?? 0), 0) / Math.max(1, log.length);
        const idealServed = concurrency / (served / 1000) / perEntity;
        figures.servedLatencyMs = Math.round(served);
        figures.achievedOverIdealAtServedLatency = Number((n / seconds / idealServed).toFixed(3));
      }
      console.log(JSON.stringify(figures));
    } finally {
      await sim.close();
    }
  } finally {
    await t.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
