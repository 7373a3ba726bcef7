// Orchestration overhead of the finetune stage: for each of the four LoRA jobs, the job workflow's
// wall time (after its gpu slot freed) minus the trainer-reported train time (steps only), split into the trainer process's
// own setup (python imports, model load, tokenization: its `start` line) and everything else
// (scheduling, spawn, polling, checkpoint/adapter writes, registration, loading into the endpoint).
// Runs fineTuneWorkflow on a local dev server with the tiny model on CPU and the simulator.
//   npx tsx bench/finetune-overhead.ts [--records 16] [--poll-ms 250] [--json]
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ActivityDeps } from '../activities';
import { jobDirOf } from '../core/finetune';
import { LlmRegistry } from '../core/llm/registry';
import { workflowIds } from '../core/rules';
import { startSimulator } from '../core/sim/server';
import { sftJsonl } from '../test/finetune/fixtures';
import { removeTinyModel, testFinetune, tinyModel, writeConstruct } from '../test/finetune/helpers';
import { startTestTemporal, testConfig, withWorkers } from '../test/helpers/temporal';
import { CATALOG } from '../test/sim/fixtures';

const { values: opt } = parseArgs({
  options: { records: { type: 'string', default: '16' }, 'poll-ms': { type: 'string', default: '250' }, json: { type: 'boolean', default: false } },
});

interface Line {
  event: string;
  t: number;
  [k: string]: unknown;
}

async function main(): Promise<void> {
  const n = Number(opt.records);
  const [t, sim, model] = await Promise.all([startTestTemporal(), startSimulator({ catalog: CATALOG, models: ['r4ec-sim'] }), tinyModel()]);
  try {
    const base = testConfig({});
    const config = { ...base, finetune: testFinetune(model, { pollIntervalMs: Number(opt['poll-ms']), lora: { epochs: 1, batchSize: 4, checkpointEvery: 2 } }) };
    const llm = new LlmRegistry({ llm: config.llm, stateDir: t.stateDir, env: {}, simulatorUrl: sim.url });
    await withWorkers(t, { config, deps: { llm } as Partial<ActivityDeps> }, async ({ config: c }) => {
      const runId = `bench-${Date.now()}`;
      const user = await writeConstruct(t.store, `construct/${runId}-u`, { 'reason.jsonl': sftJsonl(n), 'reflect.jsonl': sftJsonl(n, 1000), 'refine.jsonl': sftJsonl(n / 2, 2000) });
      const item = await writeConstruct(t.store, `construct/${runId}-i`, { 'reason.jsonl': sftJsonl(n, 3000), 'reflect.jsonl': sftJsonl(n, 4000) });
      const t0 = Date.now();
      const r = (await t.client.workflow.execute('fineTuneWorkflow', {
        taskQueue: c.queues.cpu.name,
        workflowId: workflowIds.stage(runId, 'finetune'),
        args: [{ runId, config: c, artifacts: { 'construct:user': user, 'construct:item': item } }],
      })) as { summary: { adapters: Record<string, { jobKey: string; trainSeconds?: number; tokensPerSecond?: number; steps?: number }> } };
      const stageWall = (Date.now() - t0) / 1000;
      const rows = [];
      for (const [job, a] of Object.entries(r.summary.adapters)) {
        const handle = t.client.workflow.getHandle(workflowIds.loraJob(runId, job));
        const d = await handle.describe();
        const jobWall = (d.closeTime!.getTime() - d.startTime.getTime()) / 1000;
        // The gpu queue runs one job at a time: time waiting for the slot is not overhead of this job.
        const events = (await handle.fetchHistory()).events ?? [];
        const ms = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + Math.round((e.eventTime!.nanos ?? 0) / 1e6);
        const started = events.find((e) => e.activityTaskStartedEventAttributes)!;
        const queued = (ms(started) - d.startTime.getTime()) / 1000;
        const run = (d.closeTime!.getTime() - ms(started)) / 1000;
        const lines = readFileSync(join(jobDirOf(t.stateDir, a.jobKey), 'progress.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
        const start = lines.find((l) => l.event === 'start')!;
        const done = lines.find((l) => l.event === 'done')!;
        const train = a.trainSeconds ?? 0;
        rows.push({
          job,
          steps: a.steps,
          jobWall: +jobWall.toFixed(2),
          queued: +queued.toFixed(2),
          run: +run.toFixed(2),
          trainSeconds: train,
          trainerSetup: +start.t.toFixed(2),
          trainerProcess: +done.t.toFixed(2),
          overhead: +(run - train).toFixed(2),
          outsideTrainer: +(run - done.t).toFixed(2),
          tokensPerSecond: a.tokensPerSecond,
        });
      }
      const out = { records: n, stageWall: +stageWall.toFixed(2), load: loadavg().map((x) => +x.toFixed(2)), cpus: cpus().length, jobs: rows };
      if (opt.json) console.log(JSON.stringify(out));
      else {
        console.log(`finetune stage: ${stageWall.toFixed(1)} s wall for 4 jobs (gpu slots 1), load ${out.load.join(' ')} on ${out.cpus} cpus`);
        console.table(rows);
        console.log('run = job workflow wall after its gpu slot freed (queued = waiting for it); overhead = run − trainSeconds; outsideTrainer = run − trainer process lifetime (spawn, polling, registration, loading into the endpoint)');
      }
    });
  } finally {
    await sim.close();
    await t.close();
    removeTinyModel();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
