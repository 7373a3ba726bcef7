// Construction throughput on a real local dev server with the simulator as the teacher (prints
// figures; not a test). One run of constructDatasetWorkflow over the user domain of a synthetic
// dataset sized for `--inferences` (every user sampled, two inferences each).
//
//   npx tsx bench/construct-throughput.ts [--inferences 2000] [--latency 0] [--concurrency 16]
//       [--window 64] [--batch 500] [--cpu-slots 64] [--json]
//
// - inferences/s at 0 ms latency: the orchestration ceiling (child workflows, activities, records).
// - at latency L with C concurrent calls: achieved ÷ ideal, ideal = C ÷ (mean calls per inference × L).
// Wall time is the whole stage: plan, the fan-out and the assembly of the output.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { childrenCpuSeconds } from './proc';
import { workflowIds } from '../core/rules';
import type { ConstructSummary } from '../workflows/construct';
import type { DomainStageInput, StageResult } from '../workflows/stage-types';
import { ingestSynthetic } from '../test/helpers/dataset';
import { startTestTemporal, testConfig, withWorkers } from '../test/helpers/temporal';

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      inferences: { type: 'string', default: '2000' },
      latency: { type: 'string', default: '0' },
      concurrency: { type: 'string', default: '16' },
      window: { type: 'string', default: '64' },
      batch: { type: 'string', default: '500' },
      'cpu-slots': { type: 'string', default: '64' },
      // The dev server's SQLite file (default: in memory) and extra `start-dev` arguments.
      'db-file': { type: 'string' },
      'server-args': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const inferences = Number(a.inferences);
  const latencyMs = Number(a.latency);
  const C = Number(a.concurrency);
  const users = Math.ceil(inferences / 2);
  const t = await startTestTemporal({ ...(a['db-file'] ? { dbFilename: a['db-file'] } : {}), ...(a['server-args'] ? { extraArgs: a['server-args'].split(' ') } : {}) });
  try {
    const { ingest: data } = await ingestSynthetic(t.store, { users, items: Math.max(200, Math.round(users / 4)), seed: 11 });
    const config = testConfig({
      queues: { cpu: { slots: Number(a['cpu-slots']) }, llm: { slots: C } },
      construct: { sampleFraction: 1, window: Number(a.window), batchPerRun: Number(a.batch) },
      llm: { simulator: { model: `sim-bench-${latencyMs}`, latencyMs } },
    });
    await withWorkers(t, { queues: ['cpu', 'llm'], config }, async ({ config }) => {
      const runId = `construct-bench-${Date.now()}`;
      const input: DomainStageInput = { runId, config, artifacts: { ingest: data }, domain: 'user' };
      const load0 = loadavg()[0]!;
      const cpu0 = process.cpuUsage();
      const server0 = childrenCpuSeconds();
      const t0 = performance.now();
      const r = (await t.client.workflow.execute('constructDatasetWorkflow', {
        taskQueue: config.queues.cpu.name,
        workflowId: workflowIds.stage(runId, 'construct', 'user'),
        args: [input],
      })) as StageResult<ConstructSummary>;
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const workerCpu = (cpu.user + cpu.system) / 1e6;
      const serverCpu = childrenCpuSeconds() - server0;
      const n = Object.values(r.summary.outcomes).reduce((x, y) => x + y, 0);
      const requests = r.summary.llm.calls + r.summary.llm.cacheHits;
      const callsPerInference = requests / n;
      const rate = n / seconds;
      const out: Record<string, unknown> = {
        inferences: n,
        seconds: Number(seconds.toFixed(1)),
        inferencesPerSecond: Number(rate.toFixed(2)),
        callsPerInference: Number(callsPerInference.toFixed(3)),
        latencyMs,
        concurrency: C,
        window: config.construct.window,
        batchPerRun: config.construct.batchPerRun,
        cores: cpus().length,
        loadAverageAtStart: Number(load0.toFixed(1)),
        loadAverageAtEnd: Number(loadavg()[0]!.toFixed(1)),
        workerCpuMsPerInference: Number(((workerCpu * 1000) / n).toFixed(1)),
        serverCpuMsPerInference: Number(((serverCpu * 1000) / n).toFixed(1)),
        outcomes: r.summary.outcomes,
      };
      if (latencyMs > 0) {
        const ideal = C / (callsPerInference * (latencyMs / 1000));
        out.idealInferencesPerSecond = Number(ideal.toFixed(2));
        out.achievedOverIdeal = Number((rate / ideal).toFixed(3));
      }
      if (a.json) console.log(JSON.stringify(out));
      else {
        console.log(`construct throughput: ${n} inferences in ${out.seconds} s = ${out.inferencesPerSecond} inferences/s (${out.callsPerInference} calls/inference)`);
        if (latencyMs > 0) console.log(`  at ${latencyMs} ms latency, ${C} concurrent calls: ideal ${out.idealInferencesPerSecond}/s, achieved ÷ ideal = ${out.achievedOverIdeal}`);
        console.log(`  CPU per inference: workers+simulator ${out.workerCpuMsPerInference} ms, dev server ${out.serverCpuMsPerInference} ms`);
        console.log(`  ${out.cores} cores, load average ${out.loadAverageAtStart} → ${out.loadAverageAtEnd}; outcomes ${JSON.stringify(r.summary.outcomes)}`);
      }
    });
  } finally {
    await t.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
