// fineTuneWorkflow on a real dev server with real workers, the real trainer (tiny model, CPU) and the
// simulator as serving endpoint:
// - four jobs, one child workflow each (findable by search attributes); the user-actor trainer is
//   SIGKILLed after its first checkpoint, the retried activity resumes from it and exactly one adapter
//   per job is registered; the adapters are served by name (an unloaded name is a 404); a rerun skips.
// - cancelling one job's workflow (what the Web UI / `temporal workflow cancel` do) stops its trainer,
//   keeps the checkpoint, and the next run resumes from it.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { ActivityDeps } from '../../activities';
import type { R4ecConfig } from '../../config/schema';
import { jobDirOf, listAdapters } from '../../core/finetune';
import { JOB_FILES } from '../../core/python-job';
import { LlmRegistry } from '../../core/llm/registry';
import { startSimulator, type RunningSimulator } from '../../core/sim/server';
import type { StageInput } from '../../workflows/stage-types';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { CATALOG } from '../sim/fixtures';
import { sftJsonl } from './fixtures';
import { removeTinyModel, testFinetune, tinyModel, writeConstruct } from './helpers';

let t: TestTemporal;
let sim: RunningSimulator;
let model: string;
before(async () => {
  [t, sim, model] = await Promise.all([startTestTemporal(), startSimulator({ catalog: CATALOG, models: ['r4ec-sim'] }), tinyModel()]);
});
after(async () => {
  await sim?.close();
  await t?.close();
  removeTinyModel();
});

type Event = Record<string, unknown> & { event: string };

function progressOf(jobDir: string): Event[] {
  try {
    return readFileSync(join(jobDir, JOB_FILES.progress), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Event);
  } catch {
    return [];
  }
}

function jobDirs(): string[] {
  try {
    return readdirSync(join(t.stateDir, 'finetune', 'jobs')).map((k) => join(t.stateDir, 'finetune', 'jobs', k));
  } catch {
    return [];
  }
}

/** Polls the job directories until `pick` finds something. */
async function waitFor<T>(pick: () => T | undefined, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = pick();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for the trainer');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function config(): R4ecConfig {
  const base = testConfig({});
  // Heartbeats are flushed at most every 0.8 × timeout: a short one delivers cancels quickly.
  return { ...base, finetune: testFinetune(model, { heartbeatTimeoutSeconds: 4 }) };
}

function deps(cfg: R4ecConfig, stepDelay = 0.3): Partial<ActivityDeps> {
  const llm = new LlmRegistry({ llm: cfg.llm, stateDir: t.stateDir, env: {}, simulatorUrl: sim.url });
  // Slow steps give the test a window between the first checkpoint (or cancel) and the end.
  return { env: { ...process.env, R4EC_LORA_FAULT: `delay=${stepDelay}` }, llm } as Partial<ActivityDeps>;
}

async function stageInput(runId: string, cfg: R4ecConfig, userReason: string): Promise<StageInput> {
  const user = await writeConstruct(t.store, `construct/${runId}-user`, { 'reason.jsonl': userReason, 'reflect.jsonl': sftJsonl(4, 20), 'refine.jsonl': sftJsonl(4, 40) });
  const item = await writeConstruct(t.store, `construct/${runId}-item`, { 'reason.jsonl': sftJsonl(4, 60), 'reflect.jsonl': sftJsonl(4, 80) });
  return { runId, config: cfg, artifacts: { 'construct:user': user, 'construct:item': item } };
}

test('four LoRA jobs; a killed trainer resumes from its checkpoint; one adapter per job, served by name; a rerun skips', async () => {
  const cfg = config();
  await withWorkers(t, { config: cfg, deps: deps(cfg) }, async ({ config: c }) => {
    const runId = 'ftrun1';
    const input = await stageInput(runId, c, sftJsonl(8));
    const started = Date.now();
    const handle = await t.client.workflow.start('fineTuneWorkflow', { taskQueue: c.queues.cpu.name, workflowId: `${runId}/finetune`, args: [input] });

    // Only user-actor (8 + 4 records = 3 steps) checkpoints before its end: kill it right after.
    const killed = await waitFor(() => {
      for (const dir of jobDirs()) {
        const ckpt = progressOf(dir).find((e) => e.event === 'checkpoint');
        if (ckpt) return { dir, pid: ckpt.pid as number, step: ckpt.step as number };
      }
      return undefined;
    });
    process.kill(killed.pid, 'SIGKILL');

    const result = (await handle.result()) as { skipped: boolean; summary: { adapters: Record<string, { servedName: string; jobKey: string; steps?: number }> } };
    const wall = (Date.now() - started) / 1000;
    assert.equal(result.skipped, false);
    assert.deepEqual(Object.keys(result.summary.adapters).sort(), ['item-actor', 'item-reflection', 'user-actor', 'user-reflection']);

    const actor = result.summary.adapters['user-actor']!;
    assert.equal(killed.dir, jobDirOf(t.stateDir, actor.jobKey));
    const starts = progressOf(killed.dir).filter((e) => e.event === 'start');
    assert.equal(starts.length, 2, 'one restart after the kill');
    assert.equal(starts[1]!.startStep, killed.step, 'resumed from the checkpoint, not from scratch');
    assert.equal(actor.steps, 3);

    const adapters = await listAdapters(t.store);
    assert.equal(adapters.length, 4);
    assert.deepEqual(new Set(adapters.map((a) => a.jobKey)).size, 4);
    const entry = adapters.find((a) => a.job === 'user-actor')!;
    assert.equal(entry.metrics.resumedFromStep, killed.step);

    // Served by name on the endpoint: the four names answer, an unloaded one is a 404.
    for (const a of Object.values(result.summary.adapters)) assert.ok(sim.models().includes(a.servedName), a.servedName);
    const ask = (model: string) =>
      fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal((await ask('r4ec-user-actor-000000000000')).status, 404);
    assert.notEqual((await ask(actor.servedName)).status, 404);

    // Each job is its own workflow, findable in the Web UI by run, stage and job.
    const query = `R4ecRunId = "${runId}" AND R4ecStage = "finetune" AND R4ecEntityId = "user-actor"`;
    let ids: string[] = [];
    for (let i = 0; i < 50 && ids.length === 0; i++) {
      ids = [];
      for await (const w of t.client.workflow.list({ query })) ids.push(w.workflowId);
      if (!ids.length) await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(ids, [`${runId}/finetune/user-actor`]);

    // A rerun with the same inputs finds the stage output: nothing trains again.
    const rerun = (await t.client.workflow.execute('fineTuneWorkflow', { taskQueue: c.queues.cpu.name, workflowId: `${runId}/finetune-again`, args: [input] })) as { skipped: boolean };
    assert.equal(rerun.skipped, true);
    assert.equal(progressOf(killed.dir).filter((e) => e.event === 'start').length, 2);
    console.log(`[finetune] 4 jobs on the tiny model, one killed and resumed: ${wall.toFixed(1)} s wall`);
  });
});

// Steps of 3 s: under heavy load a cancel (delivered with the next flushed heartbeat) and the test's
// polling both lag; with 1 s steps a loaded CI run once saw the job finish all 8 steps first.
test('cancelling a job workflow stops its trainer, keeps the checkpoint, and the next run resumes', async () => {
  // A cancel reaches the activity with its next flushed heartbeat (≤ 0.8 × 2 s): 8 steps of 3 s leave room.
  const cfg = { ...config(), finetune: { ...config().finetune, heartbeatTimeoutSeconds: 2 } };
  await withWorkers(t, { config: cfg, deps: deps(cfg, 3) }, async ({ config: c }) => {
    // New user-actor data (28 + 4 records = 8 steps); the other three jobs are the first test's (same content): reused.
    const input = await stageInput('ftrun2', c, sftJsonl(28, 100));
    const before = new Set(jobDirs());
    const handle = await t.client.workflow.start('fineTuneWorkflow', { taskQueue: c.queues.cpu.name, workflowId: 'ftrun2/finetune', args: [input] });
    // The user-actor trainer: the only job with 32 records (others may train too when run alone).
    const running = await waitFor(() => {
      for (const dir of jobDirs()) {
        if (before.has(dir)) continue;
        const events = progressOf(dir);
        const step = events.find((e) => e.event === 'step');
        if (step && events.some((e) => e.event === 'start' && e.records === 32)) return { dir, pid: step.pid as number };
      }
      return undefined;
    });
    await t.client.workflow.getHandle('ftrun2/finetune/user-actor').cancel();

    await assert.rejects(handle.result(), (e: unknown) => e instanceof WorkflowFailedError);
    const events = progressOf(running.dir);
    const stopped = events.at(-1)!;
    assert.equal(stopped.event, 'stopped', JSON.stringify(stopped));
    assert.throws(() => process.kill(running.pid, 0), 'the trainer is stopped');
    const ckptStep = stopped.step as number;
    assert.ok(ckptStep >= 1 && ckptStep < 8, `stopped at step ${ckptStep}`);
    assert.ok(readdirSync(join(running.dir, 'checkpoints')).includes(`step-${String(ckptStep).padStart(8, '0')}`));
    const desc = await t.client.workflow.getHandle('ftrun2/finetune/user-actor').describe();
    assert.equal(desc.status.name, 'CANCELLED');

    const r = (await t.client.workflow.execute('fineTuneWorkflow', { taskQueue: c.queues.cpu.name, workflowId: 'ftrun2/finetune-rerun', args: [input] })) as { skipped: boolean };
    assert.equal(r.skipped, false);
    const starts = progressOf(running.dir).filter((e) => e.event === 'start');
    assert.equal(starts.length, 2);
    assert.equal(starts[1]!.startStep, ckptStep);
    // One adapter per job key: this run's user-actor plus the other three (reused when the first test ran).
    const adapters = await listAdapters(t.store);
    assert.equal(adapters.filter((a) => a.job === 'user-actor').length, adapters.length === 4 ? 1 : 2);
    assert.ok(adapters.length === 4 || adapters.length === 5, String(adapters.length));
  });
});
