// Refine throughput on a real dev server with the simulator in its own process, both execution
// modes in one run (prints figures; not a test).
//
//   npx tsx bench/refine-throughput.ts [--entities 2000] [--latency 0] [--concurrency 16]
//       [--modes failed,all] [--batch-size 50] [--batch-window 4] [--window 64] [--batch 500]
//       [--iterations 1] [--strategy iterative|filter] [--malformed 0] [--rate-limit 0]
//
// - entities/s over the user domain of a synthetic dataset with `--entities` users: at 0 ms latency
//   this is the orchestration ceiling; CPU per entity of the dev server, the workers and the simulator.
// - achieved ÷ ideal at a latency L with C concurrent calls: ideal = (C / L) calls/s ÷ calls per entity.
// - billable Temporal Cloud actions per entity (bench/actions.ts), with and without faults.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../config/schema';
import { workflowIds } from '../core/rules';
import type { RefineStageSummary } from '../workflows/refine';
import type { StageResult } from '../workflows/stage-types';
import { ingestSynthetic } from '../test/helpers/dataset';
import { refineConfig } from '../test/refine/fixtures';
import { benchModes, startBenchTemporal } from './entity-bench';

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      entities: { type: 'string', default: '2000' },
      latency: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '16' },
      modes: { type: 'string', default: ENTITY_WORKFLOWS.join(',') },
      'batch-size': { type: 'string', default: '50' },
      'batch-window': { type: 'string', default: '4' },
      window: { type: 'string', default: '64' },
      batch: { type: 'string', default: '500' },
      iterations: { type: 'string', default: '1' },
      strategy: { type: 'string', default: 'iterative' },
      'cpu-slots': { type: 'string', default: '64' },
      malformed: { type: 'string', default: '0' },
      'rate-limit': { type: 'string', default: '0' },
    },
  });
  const entities = Number(a.entities);
  const concurrency = Number(a.concurrency);
  const latencyMs = Number(a.latency);
  const modes = a.modes.split(',') as EntityWorkflows[];
  const { t, metricsUrl } = await startBenchTemporal();
  try {
    const t0 = performance.now();
    const { ingest } = await ingestSynthetic(t.store, { users: entities, items: 400, seed: 3 });
    console.error(`data: ${entities} users ingested in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const figures = await benchModes(t, metricsUrl, {
      catalog: await t.store.localPath(`${ingest.key}/meta.json`),
      modes,
      latencyMs,
      concurrency,
      faults: { malformedRate: Number(a.malformed), rateLimitRate: Number(a['rate-limit']) },
      configFor: (mode, model) =>
        refineConfig({
          queues: { cpu: { slots: Number(a['cpu-slots']) }, llm: { slots: concurrency } },
          llm: { simulator: { model, latencyMs } },
          refine: {
            strategy: a.strategy === 'filter' ? 'filter' : 'iterative',
            maxIterations: Number(a.iterations),
            entityWorkflows: mode,
            window: Number(a.window),
            batchPerRun: Number(a.batch),
            batchSize: Number(a['batch-size']),
            batchWindow: Number(a['batch-window']),
          },
        }),
      run: async (t, config, runId) => {
        const res = (await t.client.workflow.execute('refineKnowledgeWorkflow', {
          taskQueue: config.queues.cpu.name,
          workflowId: workflowIds.stage(runId, 'refine', 'user'),
          args: [{ runId, config, artifacts: { ingest }, domain: 'user' }],
        })) as StageResult<RefineStageSummary>;
        return { units: res.summary.entities, outcomes: res.summary.outcomes, llm: res.summary.llm };
      },
    });
    console.log(JSON.stringify({ bench: 'refine', entities, latencyMs, concurrency, results: figures }));
  } finally {
    await t.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
