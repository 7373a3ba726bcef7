// Refine throughput on a real dev server with the simulator (prints figures; not a test).
//
//   npx tsx bench/refine-throughput.ts [--entities 2000] [--latency 0] [--concurrency 16] [--window 64]
//       [--iterations 1] [--strategy iterative|filter] [--cpu-slots 64] [--llm-slots N]
//
// - entities/s over the user domain of a synthetic dataset with `--entities` users: at 0 ms latency
//   this is the orchestration ceiling (child workflows, activities, store records).
// - achieved ÷ ideal at a latency L with C concurrent calls: ideal = (C / L) calls/s ÷ calls per entity.
// - calls per entity (requests the simulator answered, over entities) vs the algorithm's minimum:
//   kar + reason + judge = 3 for iterative; kar is a cache hit when teacher and actor are the same model.
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { minimumCalls } from '../core/refine/steps';
import type { RefineStageSummary } from '../workflows/refine';
import type { StageResult } from '../workflows/stage-types';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmRegistry } from '../core/llm/registry';
import { ingestSynthetic, refineConfig, spawnSimulator } from '../test/refine/fixtures';
import { startTestTemporal, withWorkers } from '../test/helpers/temporal';

/** CPU seconds (user + system) of this process's direct children: the dev server. */
function childrenCpuSeconds(): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) !== process.pid) continue;
      total += (Number(f[11]) + Number(f[12])) / tick;
    } catch {
      /* gone */
    }
  }
  return total;
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
    },
  });
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
      const { result, seconds, cpuSeconds } = await withWorkers(t, { config, queues: ['cpu', 'llm'], deps: { llm: registry } as object }, async ({ config: c }) => {
        const started = performance.now();
        const cpu0 = process.cpuUsage();
        const server0 = childrenCpuSeconds();
        const result = (await t.client.workflow.execute('refineKnowledgeWorkflow', {
          taskQueue: c.queues.cpu.name,
          workflowId: `${runId}/refine/user`,
          args: [{ runId, config: c, artifacts: { ingest }, domain: 'user' }],
        })) as StageResult<RefineStageSummary>;
        const cpu = process.cpuUsage(cpu0);
        const cpuSeconds = { workersAndSimulator: (cpu.user + cpu.system) / 1e6, server: childrenCpuSeconds() - server0 };
        return { result, seconds: (performance.now() - started) / 1000, cpuSeconds };
      });
      const n = result.summary.entities;
      const requests = sim.requests().length;
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
        outcomes: result.summary.outcomes,
        continueAsNewRuns: result.summary.runs,
        // CPU spent per entity: what bounds entities/s on a machine with few (or busy) cores.
        cpuMsPerEntity: { workersAndSimulator: Math.round((cpuSeconds.workersAndSimulator * 1000) / n), server: Math.round((cpuSeconds.server * 1000) / n) },
        loadAverage: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(1))),
      };
      if (latencyMs > 0) {
        const ideal = concurrency / (latencyMs / 1000) / perEntity;
        figures.idealEntitiesPerSecond = Number(ideal.toFixed(2));
        figures.achievedOverIdeal = Number((n / seconds / ideal).toFixed(3));
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
