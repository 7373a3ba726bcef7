// Kill -9 anywhere. The whole DAG (small synthetic data, the simulator with 5 % malformed answers and
// 5 % 429s) on a dev server with a SQLite file, workers in their own processes, `r4ec run` attached
// through temporal.address, compared with an undisturbed run of the same config and run id:
// - every finishing step (assembly, merge, commit, report) has its worker SIGKILLed right after its
//   commit, and the ones that clean up also midway through the clean-up (fault points, not sleep
//   races); each stage completes with the output of the undisturbed run;
// - chaos: the dev server and the workers are SIGKILLed three times at seeded random moments
//   (R4EC_CHAOS_SEED) and restarted; the run completes with the undisturbed run's LLM-derived
//   outputs, and no completed request was answered twice beyond the ones in flight at a kill.
// Each test prints the recovery time per kill, from the run's histories.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { R4ecConfigInput } from '../../config/schema';
import { FAULT_POINTS } from '../../core/fault';
import { openStore, StageOutput, type ArtifactStore } from '../../core/store';
import type { RunSummary } from '../../workflows/run-summary';
import {
  awaitRecovery,
  Cluster,
  formatRecovery,
  outputFiles,
  pendingActivities,
  repeatedCompletedRequests,
  seededRandom,
  summaryOf,
  type ClusterOptions,
  type KillRecovery,
} from '../helpers/cluster';
import { smallPipelineConfig } from '../helpers/pipeline';

const RUN_ID = 'chaos-run';
/** Short heartbeat timeouts keep the test's recoveries short; the defaults are 30 s. */
const HEARTBEAT_S = 8;
const LLM_SLOTS = 4;
const seed = process.env.R4EC_CHAOS_SEED ?? '1';

const dirs: string[] = [];
const clusters: Cluster[] = [];
function stateDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `r4ec-${name}-`));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const c of clusters) await c.close();
  if (!process.env.R4EC_KEEP_STATE) for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function config(dir: string): Promise<R4ecConfigInput> {
  const hb = { heartbeatTimeoutSeconds: HEARTBEAT_S };
  return smallPipelineConfig(dir, {
    queues: { llm: { slots: LLM_SLOTS } },
    llm: { simulator: { malformedRate: 0.05, rateLimitRate: 0.05, retryAfterSeconds: 0.2, latencyMs: 20 } },
    construct: hb,
    refine: hb,
    encode: hb,
    // One model that reads the knowledge vectors keeps every stage in the DAG at a third of the training time.
    train: { ...hb, backbones: ['deepfm'], variants: ['r4ec'], epochs: 1, seeds: [1], floor: false },
    finetune: { backend: 'none', ...hb },
    recovery: hb,
  });
}

async function cluster(name: string, opts: ClusterOptions = {}): Promise<{ c: Cluster; store: ArtifactStore; dir: string }> {
  const dir = stateDir(name);
  const c = await Cluster.create(dir, (await config(dir)) as Record<string, unknown>, opts);
  clusters.push(c);
  await c.startServer();
  await c.startWorkers();
  return { c, store: openStore({ kind: 'local' }, dir), dir };
}

/** What "the same output" means per stage, comparable across two state dirs and servers. */
interface Outputs {
  summary: RunSummary;
  /** Whole content hashes where the output depends on nothing but its inputs. */
  hashes: Record<string, string>;
  /**
   * File hashes where an output also records who wrote it or how fast (refine's entities.jsonl names
   * executions; train's metrics carry samples/s and memory): the knowledge files, the models and their predictions.
   */
  files: Record<string, Record<string, string>>;
  /** construct's D_reason, D_reflect, D_refine per domain (its manifest.jsonl also counts cache hits, which a kill changes). */
  datasets: Record<string, Record<string, string>>;
}

async function outputsOf(store: ArtifactStore, summary: RunSummary): Promise<Outputs> {
  const a = summary.artifacts as Record<string, { key: string; contentHash: string } | undefined>;
  const hashes: Record<string, string> = {};
  for (const name of ['ingest', 'construct:user', 'construct:item', 'finetune', 'encode']) {
    const art = a[name];
    assert.ok(art, `the run summary names the ${name} output`);
    assert.equal(await new StageOutput(store, art.key).contentHash(), art.contentHash, `${name}: the committed output is the one the stage returned`);
    hashes[name] = art.contentHash;
  }
  const files: Record<string, Record<string, string>> = {};
  for (const name of ['refine:user', 'refine:item']) {
    const art = a[name];
    assert.ok(art, `the run summary names the ${name} output`);
    files[name] = await outputFiles(store, art.key, (f) => f !== 'entities.jsonl');
  }
  assert.ok(a.train);
  files.train = await outputFiles(store, a.train.key, (f) => f.endsWith('/model.json') || f.endsWith('/test_pred.npy'));
  const datasets: Record<string, Record<string, string>> = {};
  for (const name of ['construct:user', 'construct:item']) {
    datasets[name] = await outputFiles(store, a[name]!.key, (f) => ['reason.jsonl', 'reflect.jsonl', 'refine.jsonl'].includes(f));
  }
  return { summary, hashes, files, datasets };
}

async function runToEnd(c: Cluster): Promise<RunSummary> {
  const run = c.run(RUN_ID);
  const { code } = await run.exited;
  assert.equal(code, 0, `r4ec run failed:\n${run.output().slice(-4000)}\n--- workers:\n${c.workerLog().slice(-4000)}`);
  return summaryOf(run.output());
}

function printRecovery(title: string, rows: KillRecovery[], t0: number): void {
  console.log(`[${title}] recovery per kill (heartbeat timeouts ${HEARTBEAT_S} s):`);
  for (const r of rows) console.log(`  ${formatRecovery(r, t0)}`);
}

let reference: Outputs;
let referenceSeconds: number;
before(async () => {
  const { c, store } = await cluster('chaos-reference');
  const t0 = Date.now();
  const summary = await runToEnd(c);
  referenceSeconds = (Date.now() - t0) / 1000;
  reference = await outputsOf(store, summary);
  console.log(`[reference] undisturbed run: ${referenceSeconds.toFixed(1)} s, outcomes ${JSON.stringify(summary.construct?.outcomes)} ${JSON.stringify(summary.refine?.outcomes)}`);
  await c.close();
});

test('kill -9 right after every finishing commit and midway through every clean-up: each stage completes with the undisturbed output', async () => {
  const faults = stateDir('chaos-faults');
  // The llm worker runs apart: kills at the finishing steps must not cut LLM calls of the other domain short.
  const { c, store } = await cluster('chaos-kill', { workerGroups: ['cpu,gpu', 'llm'], workerEnv: { R4EC_FAULT_POINTS: FAULT_POINTS.join(','), R4EC_FAULT_DIR: faults } });
  const client = await c.client();
  const t0 = Date.now();
  const run = c.run(RUN_ID);
  // Each kill's probe runs beside the loop: a retried activity may reach the next fault point at once.
  const probes: Array<Promise<KillRecovery>> = [];
  const seen = new Set<string>();
  let recoveries: KillRecovery[] = [];
  try {
    for (;;) {
      const next = await Promise.race([run.exited.then(() => 'run' as const), c.nextWorkerExit()]);
      if (next === 'run') break;
      assert.ok(seen.size < FAULT_POINTS.length, `workers died more often than there are fault points:\n${c.workerLog().slice(-4000)}`);
      const pending = await pendingActivities(client, RUN_ID);
      await c.killWorkers([next]);
      const point = readdirSync(faults).find((f) => !seen.has(f)) ?? 'unknown point';
      seen.add(point);
      const at = Date.parse((JSON.parse(readFileSync(join(faults, point), 'utf8')) as { at: string }).at);
      await c.startWorkers([next]);
      probes.push(awaitRecovery(client, pending, { at, what: point }));
    }
    recoveries = await Promise.all(probes);
  } finally {
    await client.connection.close();
  }
  const { code } = await run.exited;
  assert.equal(code, 0, `r4ec run failed:\n${run.output().slice(-4000)}\n--- workers:\n${c.workerLog().slice(-4000)}`);
  const fired = readdirSync(faults).sort();
  assert.deepEqual(fired, [...FAULT_POINTS].sort(), 'the worker was killed at every finishing step');
  assert.equal(recoveries.length, FAULT_POINTS.length);
  printRecovery('fault points', recoveries, t0);
  for (const r of recoveries) {
    assert.deepEqual(r.stuck, [], `${r.what}: every cut-off activity started again`);
    assert.ok(r.restarted.length >= 1, `${r.what}: the killed finishing activity was retried elsewhere`);
  }

  const got = await outputsOf(store, summaryOf(run.output()));
  for (const s of ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report']) assert.equal(got.summary.stages[s as 'ingest']?.status, 'completed', `${s} completed (not skipped, not failed)`);
  assert.deepEqual(got.hashes, reference.hashes, 'construct, finetune and encode outputs: the undisturbed run’s content hashes');
  assert.deepEqual(got.files, reference.files, 'refine: the undisturbed run’s knowledge files; train: its models and predictions');
  assert.deepEqual(got.summary.train, reference.summary.train);
  assert.deepEqual(got.summary.construct?.outcomes, reference.summary.construct?.outcomes);
  assert.deepEqual(got.summary.refine?.outcomes, reference.summary.refine?.outcomes);
  // The report was committed once, by this run's report activity, before its kill.
  const report = got.summary.artifacts.report!;
  assert.equal((await new StageOutput(store, report.key).manifest()).meta.runId, RUN_ID);
  // Nothing left in the work areas once the stages committed.
  assert.deepEqual(await store.list('construct-work/'), []);
  assert.deepEqual(await store.list('encode-work/'), []);
  console.log(`[fault points] ${FAULT_POINTS.length} kills, run took ${((Date.now() - t0) / 1000).toFixed(1)} s (undisturbed: ${referenceSeconds.toFixed(1)} s)`);
});

test(`chaos (seed ${seed}): server and workers SIGKILLed three times at random moments; the run completes with the undisturbed outputs`, async () => {
  const { c, store, dir } = await cluster('chaos-run');
  const client = await c.client();
  const random = seededRandom(`r4ec-chaos-${seed}`);
  // What each kill takes down, in a seeded order: everything, the workers alone, the server alone.
  const targets = ['server+workers', 'workers', 'server'].map((w) => ({ w, r: random() })).sort((a, b) => a.r - b.r).map((x) => x.w);
  const t0 = Date.now();
  let run = c.run(RUN_ID);
  const recoveries: KillRecovery[] = [];
  try {
    for (const what of targets) {
      // A seeded moment after the previous kill's work was picked up again.
      const waitMs = (0.1 + 0.25 * random()) * referenceSeconds * 1000;
      const ended = await Promise.race([run.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), waitMs))]);
      if (ended) break;
      const pending = await pendingActivities(client, RUN_ID);
      const at = Date.now();
      if (what.includes('workers')) await c.killWorkers();
      if (what.includes('server')) await c.killServer();
      if (what.includes('server')) await c.startServer();
      if (what.includes('workers')) await c.startWorkers();
      recoveries.push(await awaitRecovery(client, pending, { at, what }));
    }
  } finally {
    await client.connection.close().catch(() => undefined);
  }
  // `r4ec run` is only a client: when the server's death ends it, it is started again and attaches.
  let summary: RunSummary | undefined;
  for (let attempt = 0; attempt < 4 && !summary; attempt++) {
    const { code } = await run.exited;
    if (code === 0) summary = summaryOf(run.output());
    else run = c.run(RUN_ID);
  }
  assert.ok(summary, `the run did not complete:\n${run.output().slice(-4000)}\n--- workers:\n${c.workerLog().slice(-4000)}`);
  printRecovery(`chaos seed ${seed}`, recoveries, t0);
  assert.equal(recoveries.length, 3, `three kills happened before the run ended (${recoveries.map((k) => k.what).join(', ')})`);
  for (const r of recoveries) assert.deepEqual(r.stuck, [], `${r.what}: every cut-off activity started again`);
  for (const s of ['ingest', 'construct', 'finetune', 'refine', 'encode', 'train', 'report']) assert.equal(summary.stages[s as 'ingest']?.status, 'completed', `${s} completed`);

  const got = await outputsOf(store, summary);
  // The simulator answers the same text for the same request (faults depend on the occurrence only,
  // and every kill of the llm worker restarts its occurrence count): the LLM-derived outputs are the
  // undisturbed run's.
  assert.deepEqual(got.summary.construct?.outcomes, reference.summary.construct?.outcomes);
  assert.deepEqual(got.summary.refine?.outcomes, reference.summary.refine?.outcomes);
  assert.deepEqual(got.datasets, reference.datasets, 'construct: D_reason, D_reflect, D_refine as undisturbed');
  assert.deepEqual({ user: got.files['refine:user'], item: got.files['refine:item'] }, { user: reference.files['refine:user'], item: reference.files['refine:item'] }, 'refine: the undisturbed knowledge files');
  assert.equal(got.hashes.encode, reference.hashes.encode, 'encode: the undisturbed vectors');

  const requests = repeatedCompletedRequests(dir);
  assert.ok(requests.completed > 100, 'the log holds the run');
  assert.ok(requests.repeated <= recoveries.length * LLM_SLOTS, `${requests.repeated} completed requests were answered twice; at most ${LLM_SLOTS} in flight per kill may be`);
  console.log(
    `[chaos seed ${seed}] run took ${((Date.now() - t0) / 1000).toFixed(1)} s (undisturbed: ${referenceSeconds.toFixed(1)} s); ` +
      `${requests.requests} requests, ${requests.completed} distinct completed, ${requests.repeated} answered twice; ` +
      `train models and predictions equal: ${JSON.stringify(got.files.train) === JSON.stringify(reference.files.train)}`,
  );
});
