// A LoRA job (real trainer, tiny model, CPU) that crashes on one gpu machine resumes on another from
// its newest checkpoint in the shared S3 store (versitygw): the second machine has its own empty state
// dir, so the only way it can skip the finished steps is the stored checkpoint. After registration
// the stored checkpoints are gone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createFinetuneActivities, type FinetunePlan, type SubmitLoraJobOutput } from '../../activities/finetune';
import { listAdapters } from '../../core/finetune';
import { startTestS3, type TestS3 } from '../helpers/s3';
import { sftJsonl } from './fixtures';
import { PYTHON, removeTinyModel, testFinetune, tinyModel, writeConstruct } from './helpers';

const work = mkdtempSync(join(tmpdir(), 'r4ec-ft-elsewhere-'));
let model: string;
let s3: TestS3;
before(async () => {
  model = await tinyModel();
  s3 = await startTestS3();
});
after(async () => {
  await s3.stop();
  rmSync(work, { recursive: true, force: true });
  removeTinyModel();
});

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mock = () => new MockActivityEnvironment(undefined, { logger: quiet });

test('a LoRA job crashed on machine A resumes on machine B from the checkpoint A stored', async () => {
  const bucket = 'ft-elsewhere';
  await s3.createBucket(bucket);
  const machine = async (name: string, env: NodeJS.ProcessEnv = {}) => {
    const store = await s3.store({ bucket });
    const stateDir = mkdtempSync(join(work, `${name}-`));
    return { store, stateDir, acts: createFinetuneActivities({ store, stateDir, env: { ...process.env, ...env }, python: PYTHON }) };
  };
  // checkpointEvery 1: a checkpoint after each of the 6 steps; the injected crash comes before step 4.
  const finetune = testFinetune(model);
  const a = await machine('gpu-a', { R4EC_LORA_FAULT: 'crash@4' });
  const construct = {
    user: await writeConstruct(a.store, 'construct/u1', { 'reason.jsonl': sftJsonl(2), 'reflect.jsonl': sftJsonl(24), 'refine.jsonl': '' }),
    item: await writeConstruct(a.store, 'construct/i1', { 'reason.jsonl': sftJsonl(2, 60), 'reflect.jsonl': sftJsonl(2, 80), 'refine.jsonl': '' }),
  };
  const planned = (await mock().run(a.acts.planFinetune, { runId: 'r1', finetune, construct })) as FinetunePlan;
  assert.equal(planned.status, 'todo');
  const plan = planned as Extract<FinetunePlan, { status: 'todo' }>;
  const job = plan.work.jobs.find((j) => j.name === 'user-reflection')!;
  const input = { runId: 'r1', job, finetune, baseModel: plan.work.baseModel! };

  const crashed = await mock().run(a.acts.submitLoraJob, input).then(
    () => assert.fail('the trainer was to crash'),
    (e: unknown) => e,
  );
  assert.ok(crashed instanceof ApplicationFailure && !crashed.nonRetryable, String(crashed));
  const stored = (await a.store.list(`checkpoints/lora/${job.jobKey}/index/`)).map((k) => /step-(\d+)/.exec(k)?.[1]);
  // The uploader keeps the newest two; one the trainer replaced while the previous upload ran may be
  // skipped (the newest is what a resume needs).
  assert.equal(stored.at(-1), '00000003', `the newest checkpoint is in the store (${stored.join(', ')})`);
  assert.ok(stored.length <= 2, `at most the newest two are kept (${stored.join(', ')})`);

  // Machine A is gone with its disk; machine B has never seen this job.
  rmSync(a.stateDir, { recursive: true, force: true });
  const b = await machine('gpu-b');
  const r = (await mock().run(b.acts.submitLoraJob, input)) as SubmitLoraJobOutput;
  assert.equal(r.reused, false);
  assert.equal(r.entry.metrics.resumedFromStep, 3, 'resumed after step 3, not from step 0');
  assert.equal(r.entry.metrics.restoredCheckpoint, 'step-00000003');
  assert.equal(r.entry.metrics.steps, 6);
  assert.equal((await listAdapters(b.store)).length, 1);
  assert.deepEqual(await b.store.list(`checkpoints/lora/${job.jobKey}/`), [], 'registered: the stored checkpoints are cleared');
});
