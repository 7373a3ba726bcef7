// The local backend's activities with the real trainer (python, tiny model, CPU): planning from
// construct outputs, every bad input failing before training with nothing registered, training on the
// authors' D_refine sample, trainer failures with their last lines, and a crashed worker's trainer
// re-attached to instead of started twice (cancel + resume: workflow.test.ts, through the server).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createFinetuneActivities, type FinetunePlan, type SubmitLoraJobInput, type SubmitLoraJobOutput } from '../../activities/finetune';
import { convertAuthorsRefine, jobDirOf, listAdapters, toJsonl, type FinetuneWork } from '../../core/finetune';
import type { JobState } from '../../core/python-job';
import { LocalStore } from '../../core/store';
import { sharedPath, skipWithoutShared } from '../helpers/data';
import { sftJsonl } from './fixtures';
import { PYTHON, REPO, removeTinyModel, testFinetune, tinyModel, writeConstruct } from './helpers';

const dirs: string[] = [];
let model: string;
before(async () => {
  model = await tinyModel();
});
after(() => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  removeTinyModel();
});

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mock = () => new MockActivityEnvironment(undefined, { logger: quiet });

function setup(env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-ft-local-'));
  dirs.push(dir);
  const store = new LocalStore(join(dir, 'store'));
  const stateDir = join(dir, 'state');
  const acts = createFinetuneActivities({ store, stateDir, env: { ...process.env, ...env }, python: PYTHON });
  return { dir, store, stateDir, acts };
}

async function constructs(store: LocalStore, files: { user?: Record<string, string>; item?: Record<string, string> } = {}) {
  return {
    user: await writeConstruct(store, 'construct/u1', files.user ?? { 'reason.jsonl': sftJsonl(3), 'reflect.jsonl': sftJsonl(4, 20), 'refine.jsonl': sftJsonl(2, 40) }),
    item: await writeConstruct(store, 'construct/i1', files.item ?? { 'reason.jsonl': sftJsonl(2, 60), 'reflect.jsonl': sftJsonl(2, 80), 'refine.jsonl': '' }),
  };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => assert.fail('expected a failure'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof ApplicationFailure, `expected ApplicationFailure, got ${String(e)}`);
  return e;
}

/** The jobs and base model of a plan that has work to do. */
function work(plan: FinetunePlan): FinetuneWork {
  assert.equal(plan.status, 'todo');
  return (plan as Extract<FinetunePlan, { status: 'todo' }>).work;
}

function submitInput(plan: FinetunePlan, name: string, finetune: ReturnType<typeof testFinetune>): SubmitLoraJobInput {
  const { jobs, baseModel } = work(plan);
  const job = jobs.find((j) => j.name === name)!;
  return { runId: 'r1', job, finetune, baseModel: baseModel! };
}

test('planFinetune builds the four jobs from the construct outputs (actor = D_reason ∪ D_refine)', async () => {
  const { store, acts } = setup();
  const finetune = testFinetune(model);
  const plan = (await mock().run(acts.planFinetune, { runId: 'r1', finetune, construct: await constructs(store) })) as FinetunePlan;
  assert.equal(plan.status, 'todo');
  assert.deepEqual(
    work(plan).jobs.map((j) => [j.name, j.domain, j.role, j.records]),
    [
      ['user-actor', 'user', 'actor', 5],
      ['user-reflection', 'user', 'reflection', 4],
      ['item-actor', 'item', 'actor', 2],
      ['item-reflection', 'item', 'reflection', 2],
    ],
  );
  assert.equal(new Set(work(plan).jobs.map((j) => j.jobKey)).size, 4);
  const actor = work(plan).jobs[0]!;
  assert.equal((await store.get(actor.datasetKey)).toString(), sftJsonl(3) + sftJsonl(2, 40));
  assert.equal(actor.servedName, `r4ec-user-actor-${actor.jobKey.slice(0, 12)}`);
  assert.equal(work(plan).baseModel!.ref, model);
  // Same inputs → same keys (a rerun re-attaches to the same jobs).
  const again = (await mock().run(acts.planFinetune, { runId: 'r2', finetune, construct: await constructs(store) })) as FinetunePlan;
  assert.deepEqual(work(again).jobs.map((j) => j.jobKey), work(plan).jobs.map((j) => j.jobKey));
});

test('without finetune.baseModel the tiny offline model is built into the state dir and reused', async () => {
  const { store, stateDir, acts } = setup();
  const finetune = testFinetune(model);
  delete finetune.baseModel;
  const construct = await constructs(store);
  const plan = (await mock().run(acts.planFinetune, { runId: 'r1', finetune, construct })) as FinetunePlan;
  assert.equal(work(plan).baseModel!.ref, join(stateDir, 'models', 'tiny-qwen2'));
  assert.ok(readFileSync(join(work(plan).baseModel!.ref, 'config.json'), 'utf8').includes('qwen2'));
  const again = (await mock().run(acts.planFinetune, { runId: 'r1', finetune, construct })) as FinetunePlan;
  assert.deepEqual(work(again).baseModel, work(plan).baseModel);
  assert.deepEqual(work(again).jobs.map((j) => j.jobKey), work(plan).jobs.map((j) => j.jobKey));
});

test('bad inputs fail the plan once, clearly, before any training', async () => {
  const { store, acts } = setup();
  const finetune = testFinetune(model);
  const bad = await constructs(store, { user: { 'reason.jsonl': sftJsonl(2), 'reflect.jsonl': sftJsonl(2), 'refine.jsonl': sftJsonl(1) + '{"messages": [{"role": "user", "content": "q"}]}\n' } });
  let f = await failure(mock().run(acts.planFinetune, { runId: 'r1', finetune, construct: bad }));
  assert.equal(f.type, 'BadDataset');
  assert.equal(f.nonRetryable, true);
  assert.match(f.message, /construct\/u1\/refine\.jsonl:2: field "messages"/);

  const empty = await constructs(store, { item: { 'reason.jsonl': sftJsonl(2), 'reflect.jsonl': '\n' } });
  f = await failure(mock().run(acts.planFinetune, { runId: 'r1', finetune, construct: empty }));
  assert.equal(f.type, 'EmptyDataset');
  assert.match(f.message, /item-reflection: no SFT records in D_reflect of construct\/i1/);

  f = await failure(mock().run(acts.planFinetune, { runId: 'r1', finetune: testFinetune('/nonexistent/model'), construct: await constructs(store) }));
  assert.equal(f.type, 'BaseModelMissing');
  assert.match(f.message, /no model at "\/nonexistent\/model"/);
  assert.equal((await listAdapters(store)).length, 0);
});

test('outside the run\'s selection (lookupOnly) a missing output fails the plan with StageOutputMissing and stores nothing', async () => {
  const { store, acts } = setup();
  const construct = await constructs(store);
  const f = await failure(mock().run(acts.planFinetune, { runId: 'r1', finetune: testFinetune(model), construct, lookupOnly: true }));
  assert.equal(f.type, 'StageOutputMissing');
  assert.equal(f.nonRetryable, true);
  assert.match(f.message, /finetune: no output finetune\/\S+ for these inputs/);
  assert.deepEqual(await store.list('finetune-data/'), [], 'no dataset was merged');
});

test("the trainer fine-tunes on the authors' D_refine sample and the adapter is registered once", { skip: skipWithoutShared('r4ec/amz_user_refine.json') }, async () => {
  const { store, acts } = setup();
  const raw: unknown = JSON.parse(readFileSync(sharedPath('r4ec', 'amz_user_refine.json'), 'utf8'));
  const refine = toJsonl(convertAuthorsRefine(raw, 'amz_user_refine.json').slice(0, 6));
  const finetune = testFinetune(model);
  const plan = (await mock().run(acts.planFinetune, {
    runId: 'r1',
    finetune,
    construct: await constructs(store, { user: { 'reason.jsonl': '', 'reflect.jsonl': sftJsonl(2), 'refine.jsonl': refine } }),
  })) as FinetunePlan;
  const beats: JobState[] = [];
  const env = mock();
  env.on('heartbeat', (d: JobState) => beats.push(d));
  const r = (await env.run(acts.submitLoraJob, submitInput(plan, 'user-actor', finetune))) as SubmitLoraJobOutput;
  assert.equal(r.reused, false);
  assert.equal(r.entry.records, 6);
  assert.equal(r.entry.metrics.steps, 2);
  assert.equal(r.entry.metrics.resumedFromStep, 0);
  assert.ok(beats.some((b) => b.step === 2 && typeof b.loss === 'number'), 'heartbeats carry step and loss');
  const config = JSON.parse((await store.get(`${r.entry.adapterKey}/adapter_config.json`)).toString()) as Record<string, unknown>;
  assert.deepEqual([config.r, config.lora_alpha, config.lora_dropout], [8, 16, 0.05]);
  assert.deepEqual([...(config.target_modules as string[])].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  assert.ok(await store.exists(`${r.entry.adapterKey}/adapter_model.safetensors`));

  const again = (await mock().run(acts.submitLoraJob, submitInput(plan, 'user-actor', finetune))) as SubmitLoraJobOutput;
  assert.equal(again.reused, true);
  assert.equal((await listAdapters(store)).length, 1);
});

test('trainer out of memory is final, a trainer crash is retryable; both carry its last lines and register nothing', async () => {
  const finetune = testFinetune(model);
  for (const [fault, type, nonRetryable, line] of [
    ['oom@1', 'OutOfMemory', true, /CUDA out of memory/],
    ['crash@1', 'RuntimeError', false, /injected crash at step 1/],
  ] as const) {
    const { store, acts } = setup({ R4EC_LORA_FAULT: fault });
    const plan = (await mock().run(acts.planFinetune, { runId: 'r1', finetune, construct: await constructs(store) })) as FinetunePlan;
    const f = await failure(mock().run(acts.submitLoraJob, submitInput(plan, 'item-reflection', finetune)));
    assert.equal(f.type, type === 'OutOfMemory' ? 'OutOfMemory' : 'TrainerFailed');
    assert.equal(f.nonRetryable, nonRetryable);
    assert.match(f.message, line);
    assert.match(f.message, /--- last trainer output ---/);
    const lastLines = (f.details?.[0] as { lastLines: string[] }).lastLines;
    assert.ok(lastLines.some((l) => line.test(l)), lastLines.join('\n'));
    assert.equal((await listAdapters(store)).length, 0);
  }
});

test("a crashed worker's trainer keeps running and the retried activity re-attaches to it", async () => {
  const { dir, store, stateDir, acts } = setup();
  const finetune = testFinetune(model);
  const plan = (await mock().run(acts.planFinetune, {
    runId: 'r1',
    finetune,
    construct: await constructs(store, { user: { 'reason.jsonl': sftJsonl(2), 'reflect.jsonl': sftJsonl(24), 'refine.jsonl': '' } }),
  })) as FinetunePlan;
  const input = submitInput(plan, 'user-reflection', finetune);
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'submit-child.ts'), join(dir, 'store'), stateDir, PYTHON, JSON.stringify(input)], {
    cwd: REPO,
    env: { ...process.env, R4EC_LORA_FAULT: 'delay=0.5' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let trainerPid: number | undefined;
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n').slice(0, -1)) {
        if (!line.startsWith('HB ')) continue;
        const hb = JSON.parse(line.slice(3)) as JobState;
        if (hb.step !== undefined && hb.step >= 1 && trainerPid === undefined) {
          trainerPid = hb.pid;
          child.kill('SIGKILL'); // the worker dies; the detached trainer does not
          resolve();
        }
      }
      buf = buf.slice(buf.lastIndexOf('\n') + 1);
    });
    child.once('exit', () => (trainerPid === undefined ? reject(new Error('activity child exited before training')) : resolve()));
  });
  assert.ok(trainerPid !== undefined);
  assert.doesNotThrow(() => process.kill(trainerPid!, 0), 'the trainer outlives its worker');

  const r = (await mock().run(acts.submitLoraJob, input)) as SubmitLoraJobOutput;
  assert.equal(r.attached, true);
  assert.equal(r.entry.metrics.launches, 0, 'this attempt started no trainer');
  assert.equal(r.entry.metrics.steps, 6);
  const starts = readFileSync(join(jobDirOf(stateDir, input.job.jobKey), 'progress.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.includes('"event":"start"'));
  assert.equal(starts.length, 1, 'exactly one trainer ran');
  assert.equal((await listAdapters(store)).length, 1);
});
