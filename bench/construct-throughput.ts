// Construction throughput on a real dev server with the simulator (its own process) as the teacher,
// both execution modes in one run (prints figures; not a test). One construct(user) stage over a
// synthetic dataset sized for `--inferences` (every user sampled, two inferences each).
//
//   npx tsx bench/construct-throughput.ts [--inferences 2000] [--latency 0] [--concurrency 16]
//       [--modes failed,all] [--batch-size 50] [--batch-window 4] [--window 64] [--batch 500]
//       [--malformed 0] [--rate-limit 0]
//
// - inferences/s at 0 ms latency: the orchestration ceiling; CPU per inference of the dev server,
//   the workers and the simulator.
// - at latency L with C concurrent calls: achieved ÷ ideal, ideal = C ÷ (calls per inference × L).
// - billable Temporal Cloud actions per inference (bench/actions.ts), with and without faults.
// Wall time is the whole stage: plan, the fan-out and the assembly of the output.
import { parseArgs } from 'node:util';
import { ENTITY_WORKFLOWS, type EntityWorkflows } from '../config/schema';
import { workflowIds } from '../core/rules';
import type { ConstructSummary } from '../workflows/construct';
import type { DomainStageInput, StageResult } from '../workflows/stage-types';
import { ingestSynthetic } from '../test/helpers/dataset';
import { testConfig } from '../test/helpers/temporal';
import { benchModes, startBenchTemporal } from './entity-bench';

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      inferences: { type: 'string', default: '2000' },
      latency: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '16' },
      modes: { type: 'string', default: ENTITY_WORKFLOWS.join(',') },
      'batch-size': { type: 'string', default: '50' },
      'batch-window': { type: 'string', default: '4' },
      window: { type: 'string', default: '64' },
      batch: { type: 'string', default: '500' },
      'cpu-slots': { type: 'string', default: '64' },
      malformed: { type: 'string', default: '0' },
      'rate-limit': { type: 'string', default: '0' },
    },
  });
  const inferences = Number(a.inferences);
  const latencyMs = Number(a.latency);
  const concurrency = Number(a.concurrency);
  const users = Math.ceil(inferences / 2);
  const { t, metricsUrl } = await startBenchTemporal();
  try {
    const { ingest: data } = await ingestSynthetic(t.store, { users, items: Math.max(200, Math.round(users / 4)), seed: 11 });
    const figures = await benchModes(t, metricsUrl, {
      catalog: await t.store.localPath(`${data.key}/meta.json`),
      modes: a.modes.split(',') as EntityWorkflows[],
      latencyMs,
      concurrency,
      faults: { malformedRate: Number(a.malformed), rateLimitRate: Number(a['rate-limit']) },
      configFor: (mode, model) =>
        testConfig({
          queues: { cpu: { slots: Number(a['cpu-slots']) }, llm: { slots: concurrency } },
          construct: { sampleFraction: 1, entityWorkflows: mode, window: Number(a.window), batchPerRun: Number(a.batch), batchSize: Number(a['batch-size']), batchWindow: Number(a['batch-window']) },
          llm: { transport: { initialIntervalMs: 50, maximumIntervalMs: 200 }, simulator: { model, latencyMs, retryAfterSeconds: 0.05 } },
        }),
      run: async (t, config, runId) => {
        const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
        const res = (await t.client.workflow.execute('constructDatasetWorkflow', {
          taskQueue: config.queues.cpu.name,
          workflowId: workflowIds.stage(runId, 'construct', 'user'),
          args: [input],
        })) as StageResult<ConstructSummary>;
        return { units: Object.values(res.summary.outcomes).reduce((x, y) => x + y, 0), outcomes: res.summary.outcomes, llm: res.summary.llm };
      },
    });
    console.log(JSON.stringify({ bench: 'construct', inferences, latencyMs, concurrency, results: figures }));
  } finally {
    await t.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
