// Records the workflow histories the replay test replays (test/histories/): one small synthetic
// pipeline run (every stage, the LoRA jobs on the tiny base model, construct and refine continuing
// as new) gives the pipeline, each stage workflow, both runs ends of a fan-out chain and one entity
// workflow of each kind; the smoke workflow is recorded beside it. One command, a few minutes:
//
//   npx tsx scripts/record-histories.ts
//
// Run it after a deliberate workflow change that no running execution depends on (see the top of
// test/foundation/replay.test.ts), then commit test/histories/. What it records is fixed: the same
// config, seeds, workflow ids, queue names and state-dir paths every time; only timestamps, run ids
// and, where children finish together, how events group into workflow tasks differ between runs.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import type { R4ecConfigInput } from '../config/schema';
import { temporalBinary } from '../runtime/paths';
import { workflowBundle } from '../workers/bootstrap';
import { smallPipelineConfig } from '../test/helpers/pipeline';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../test/helpers/temporal';

const OUT = resolve(__dirname, '..', 'test', 'histories');
const INDEX_FILE = 'index.json';
const RUN_ID = 'replay-pipeline';

/**
 * What the pipeline runs on: 20 users × 60 items, pages small enough that the fan-outs continue as
 * new; construct with a workflow per inference, refine in batches with a workflow per failed entity
 * (a quarter of the answers are malformed, so some entities fail; no failure limit).
 */
const OVERRIDES: R4ecConfigInput = {
  construct: { sampleFraction: 0.5, window: 4, batchPerRun: 6, entityWorkflows: 'all', failureLimit: 1 },
  refine: { window: 4, batchSize: 3, batchWindow: 2, batchesPerRun: 2, entityWorkflows: 'failed', failureLimit: 1 },
  llm: { formatRetries: 0, simulator: { malformedRate: 0.25 } },
  finetune: { backend: 'local', cpuThreads: 1, pollIntervalMs: 200, lora: { epochs: 1, batchSize: 4, cutoffLen: 512, checkpointEvery: 50 } },
  train: { backbones: ['deepfm'], variants: ['base', 'r4ec'], epochs: 1, patience: 1, batchSize: 64, embeddingDim: 8, mlp: [16], connector: [16], threads: 1, seeds: [1] },
};

interface Recorded {
  file: string;
  workflowType: string;
  workflowId: string;
  /** Why this history is here. */
  covers: string;
  events: number;
  bytes: number;
}

interface HistoryJson {
  events: Array<{ eventType: string; workflowExecutionStartedEventAttributes?: { workflowType: { name: string }; firstExecutionRunId?: string }; startChildWorkflowExecutionInitiatedEventAttributes?: { workflowId: string } }>;
}

function show(t: TestTemporal, workflowId: string, runId?: string): { text: string; json: HistoryJson } {
  // The CLI's JSON is the canonical history format (what the Web UI downloads, what replay reads).
  const text = execFileSync(temporalBinary(), ['workflow', 'show', '--address', t.address, '-w', workflowId, ...(runId ? ['-r', runId] : []), '-o', 'json'], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { text, json: JSON.parse(text) as HistoryJson };
}

async function main(): Promise<void> {
  const started = Date.now();
  // A fixed state dir: the paths inside payloads (dataset, store) are the same on every recording.
  const t = await startTestTemporal({ stateDir: join(tmpdir(), 'r4ec-record-histories') });
  const recorded: Recorded[] = [];
  const files = new Map<string, string>();
  const keep = (file: string, workflowId: string, covers: string, h: { text: string; json: HistoryJson }) => {
    const type = h.json.events[0]?.workflowExecutionStartedEventAttributes?.workflowType.name;
    if (!type) throw new Error(`${workflowId}: no WorkflowExecutionStarted event`);
    files.set(file, h.text);
    recorded.push({ file, workflowType: type, workflowId, covers, events: h.json.events.length, bytes: Buffer.byteLength(h.text) });
  };
  try {
    const raw = await smallPipelineConfig(t.stateDir, OVERRIDES, { users: 20, items: 60, seed: 5 });
    await withWorkers(t, { config: testConfig(raw), queueSuffix: 'replay' }, async ({ config }) => {
      const smoke = await t.client.workflow.start('smokeWorkflow', { taskQueue: config.queues.cpu.name, workflowId: 'replay-smoke', args: [{ key: 'smoke/replay', text: 'recorded', workMs: 300 }] });
      await smoke.result();
      keep('smokeWorkflow.json', smoke.workflowId, 'workflow → activity → store', show(t, smoke.workflowId));

      // The pipeline's input is the plain JSON config, as `temporal workflow start --input-file` sends it.
      const input = { ...raw, queues: { cpu: { name: config.queues.cpu.name }, llm: { name: config.queues.llm.name }, gpu: { name: config.queues.gpu.name } } };
      const pipeline = await t.client.workflow.start('r4ecPipelineWorkflow', { taskQueue: config.queues.cpu.name, workflowId: RUN_ID, args: [input] });
      await pipeline.result();
    });

    keep('r4ecPipelineWorkflow.json', RUN_ID, 'the DAG: every stage a child, the summary', show(t, RUN_ID));
    keep('ingestDatasetWorkflow.json', `${RUN_ID}/ingest`, 'stage: ingest', show(t, `${RUN_ID}/ingest`));
    for (const [stage, domain] of [
      ['construct', 'user'],
      ['refine', 'user'],
    ] as const) {
      const id = `${RUN_ID}/${stage}/${domain}`;
      const last = show(t, id);
      const first = show(t, id, last.json.events[0]!.workflowExecutionStartedEventAttributes!.firstExecutionRunId);
      if (first.json.events.at(-1)?.eventType !== 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW') throw new Error(`${id} did not continue as new: lower its batchPerRun / batchesPerRun`);
      const type = first.json.events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name;
      const how = stage === 'construct' ? 'windowed children' : 'batch activities, a child per failed entity';
      keep(`${type}.first-run.json`, id, `fan-out, first run: ${how}, then continue-as-new`, first);
      keep(`${type}.last-run.json`, id, `fan-out, last run: carried offset and outcomes, assembly`, last);
      // One entity workflow of the stage: the first child the fan-out started (in either run).
      const initiated = [...first.json.events, ...last.json.events].find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
      if (!initiated) throw new Error(`${id} started no entity workflow: raise llm.simulator.malformedRate here`);
      const child = initiated.startChildWorkflowExecutionInitiatedEventAttributes!.workflowId;
      const entity = show(t, child);
      keep(`${entity.json.events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name}.json`, child, `entity workflow of ${stage}`, entity);
    }
    keep('fineTuneWorkflow.json', `${RUN_ID}/finetune`, 'stage: finetune, four LoRA job children', show(t, `${RUN_ID}/finetune`));
    keep('loraJobWorkflow.json', `${RUN_ID}/finetune/user-actor`, 'one LoRA job: train on gpu, load the adapter on llm', show(t, `${RUN_ID}/finetune/user-actor`));
    for (const stage of ['encode', 'train', 'report']) {
      const h = show(t, `${RUN_ID}/${stage}`);
      keep(`${h.json.events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name}.json`, `${RUN_ID}/${stage}`, `stage: ${stage}`, h);
    }

    // What is committed must replay against the code that recorded it.
    const bundle = await workflowBundle();
    const histories = recorded.map((r) => ({ workflowId: r.workflowId, history: historyFromJSON(JSON.parse(files.get(r.file)!)) }));
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      if (result.error) throw new Error(`${result.workflowId} does not replay: ${result.error.message}`);
    }

    for (const f of readdirSync(OUT)) if (f.endsWith('.json')) rmSync(join(OUT, f));
    for (const [file, text] of files) writeFileSync(join(OUT, file), text);
    writeFileSync(join(OUT, INDEX_FILE), JSON.stringify({ recordedWith: 'npx tsx scripts/record-histories.ts', histories: recorded }, null, 2) + '\n');
    for (const r of recorded) console.log(`${r.file.padEnd(44)} ${String(r.events).padStart(5)} events ${(r.bytes / 1024).toFixed(1).padStart(7)} KiB`);
    console.log(`${recorded.length} histories of ${new Set(recorded.map((r) => r.workflowType)).size} workflow types in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    await t.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
