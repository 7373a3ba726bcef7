// The `openai` backend through the real `openai` package against a local fake of the Files and
// fine-tuning endpoints: create → poll → succeeded, re-attach on retry (no second job, no second
// upload), a crashed attempt's running job is followed by the next, provider failures, cancel.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import OpenAI from 'openai';
import { createFinetuneActivities, type SubmitLoraJobInput, type SubmitLoraJobOutput } from '../../activities/finetune';
import { R4ecConfigSchema } from '../../config/schema';
import { FinetuneError, listAdapters, runOpenAiJob } from '../../core/finetune';
import { LocalStore } from '../../core/store';
import { startFakeOpenAi, type FakeOpenAi } from './fake-openai';
import { sftJsonl } from './fixtures';

const fakes: FakeOpenAi[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

async function setup(content = sftJsonl(4)) {
  const fake = await startFakeOpenAi({ apiKey: 'sk-test' });
  fakes.push(fake);
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-ft-openai-'));
  dirs.push(dir);
  const dataset = join(dir, 'train.jsonl');
  writeFileSync(dataset, content);
  const client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 0 });
  const opts = { client, jobKey: 'a'.repeat(24), datasetPath: dataset, baseModel: 'gpt-4o-mini-2024-07-18', hyper: { epochs: 3, batchSize: 16, seed: 0 }, jobDir: join(dir, 'job'), pollMs: 5 };
  return { fake, dir, dataset, client, opts };
}

test('create → poll → succeeded records the fine-tuned model; a retry re-attaches without a second job', async () => {
  const { fake, opts } = await setup();
  const messages: string[] = [];
  const r = await runOpenAiJob({ ...opts, onEvent: (e) => messages.push(e.message) });
  assert.equal(r.attached, false);
  assert.equal(r.job.status, 'succeeded');
  assert.match(r.fineTunedModel, /^ft:gpt-4o-mini-2024-07-18:fake-org:r4ec-aaaaaaaaaaaaaaaa:/);
  assert.deepEqual(messages, ['Created fine-tuning job: ' + r.job.id, 'Fine-tuning job started', 'Step 1/1: training loss=0.42', 'The job has successfully completed']);
  const job = fake.jobs[0]!;
  assert.equal(job.metadata?.r4ec_job_key, opts.jobKey);
  assert.deepEqual(job.method, { type: 'supervised', supervised: { hyperparameters: { n_epochs: 3, batch_size: 16, learning_rate_multiplier: 'auto' } } });
  assert.equal(fake.files[0]!.content, sftJsonl(4));

  const again = await runOpenAiJob(opts);
  assert.equal(again.attached, true);
  assert.equal(again.fineTunedModel, r.fineTunedModel);
  assert.equal(fake.creations, 1);
  assert.equal(fake.uploads, 1);
});

test('an attempt that dies while the job runs is followed by the next attempt (found by its key)', async () => {
  const { fake, opts } = await setup();
  // The first attempt "crashes" at its first poll (a killed worker); the local note is lost too.
  await assert.rejects(
    runOpenAiJob({
      ...opts,
      onPoll: () => {
        throw new Error('worker died');
      },
    }),
    /worker died/,
  );
  rmSync(opts.jobDir, { recursive: true, force: true });
  assert.ok(['validating_files', 'queued', 'running'].includes(fake.jobs[0]!.status), 'the job is still running on the provider');
  const r = await runOpenAiJob(opts);
  assert.equal(r.attached, true);
  assert.equal(r.job.id, fake.jobs[0]!.id);
  assert.equal(fake.creations, 1);
  assert.equal(fake.uploads, 1);
});

test('a job the provider fails is a non-retryable error; a cancelled one is replaced by a new job', async () => {
  const bad = await setup(sftJsonl(2) + JSON.stringify({ messages: [{ role: 'user', content: 'FAIL-THIS-JOB' }, { role: 'assistant', content: 'x' }] }) + '\n');
  await assert.rejects(runOpenAiJob(bad.opts), (e: unknown) => e instanceof FinetuneError && e.code === 'ProviderJobFailed' && !e.retryable && /invalid training file|rejects/.test(e.message));

  const { fake, opts } = await setup();
  const ac = new AbortController();
  await assert.rejects(runOpenAiJob({ ...opts, signal: ac.signal, onPoll: () => ac.abort() }), /cancelled on request/);
  assert.equal(fake.jobs[0]!.status, 'cancelled');
  const r = await runOpenAiJob(opts);
  assert.equal(r.attached, false);
  assert.equal(fake.creations, 2);
  assert.equal(fake.uploads, 1, 'the uploaded file is reused');
});

test('a wrong API key is a non-retryable provider error', async () => {
  const { opts, fake } = await setup();
  const client = new OpenAI({ apiKey: 'sk-wrong', baseURL: fake.url, maxRetries: 0 });
  await assert.rejects(runOpenAiJob({ ...opts, client }), (e: unknown) => e instanceof FinetuneError && e.code === 'ProviderError' && !e.retryable && /401/.test(e.message));
});

test('submitLoraJob (openai backend) registers the fine-tuned model once, across retries', async () => {
  const { fake, dir } = await setup();
  const store = new LocalStore(join(dir, 'store'));
  await store.put('finetune-data/d1.jsonl', sftJsonl(4));
  const finetune = R4ecConfigSchema.parse({ finetune: { backend: 'openai', baseModel: 'gpt-4o-mini-2024-07-18', openai: { baseUrl: fake.url, apiKeyEnv: 'FAKE_OPENAI_KEY', pollIntervalSeconds: 0.005 } } }).finetune;
  const acts = createFinetuneActivities({ store, stateDir: join(dir, 'state'), env: { FAKE_OPENAI_KEY: 'sk-test' } });
  const input: SubmitLoraJobInput = {
    runId: 'r1',
    job: { name: 'user-actor', domain: 'user', role: 'actor', jobKey: 'b'.repeat(24), servedName: 'unused-for-openai', datasetKey: 'finetune-data/d1.jsonl', dataHash: 'h1', records: 4 },
    finetune,
    baseModel: { ref: 'gpt-4o-mini-2024-07-18', identity: { kind: 'provider', name: 'gpt-4o-mini-2024-07-18' } },
  };
  const beats: unknown[] = [];
  const env = new MockActivityEnvironment(undefined, { logger: quiet });
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const r = (await env.run(acts.submitLoraJob, input)) as SubmitLoraJobOutput;
  assert.equal(r.reused, false);
  assert.equal(r.entry.backend, 'openai');
  assert.equal(r.entry.adapterKey, null);
  assert.match(r.entry.servedName, /^ft:gpt-4o-mini-2024-07-18:/);
  assert.equal(r.entry.jobId, fake.jobs[0]!.id);
  assert.ok(beats.some((b) => (b as { jobId?: string }).jobId === fake.jobs[0]!.id), 'heartbeats carry the provider job id');

  const again = (await new MockActivityEnvironment(undefined, { logger: quiet }).run(acts.submitLoraJob, input)) as SubmitLoraJobOutput;
  assert.equal(again.reused, true);
  assert.equal(fake.creations, 1);
  assert.equal((await listAdapters(store)).length, 1);

  // Without the key the activity fails once, naming the variable (never a value).
  const noKey = createFinetuneActivities({ store, stateDir: join(dir, 'state'), env: {} });
  const err = await new MockActivityEnvironment(undefined, { logger: quiet }).run(noKey.submitLoraJob, { ...input, job: { ...input.job, jobKey: 'c'.repeat(24) } }).then(
    () => assert.fail('expected a failure'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ApplicationFailure && err.nonRetryable && /FAKE_OPENAI_KEY/.test(err.message));
});

test('cancelling submitLoraJob (openai) cancels the provider job and reports CancelledFailure', async () => {
  const { fake, dir } = await setup();
  const store = new LocalStore(join(dir, 'store'));
  await store.put('finetune-data/d1.jsonl', sftJsonl(4));
  const finetune = R4ecConfigSchema.parse({ finetune: { backend: 'openai', baseModel: 'm', openai: { baseUrl: fake.url, apiKeyEnv: 'K', pollIntervalSeconds: 0.2 } } }).finetune;
  const acts = createFinetuneActivities({ store, stateDir: join(dir, 'state'), env: { K: 'sk-test' } });
  const env = new MockActivityEnvironment(undefined, { logger: quiet });
  env.once('heartbeat', () => env.cancel());
  const input: SubmitLoraJobInput = {
    runId: 'r1',
    job: { name: 'item-reflection', domain: 'item', role: 'reflection', jobKey: 'd'.repeat(24), servedName: 'x', datasetKey: 'finetune-data/d1.jsonl', dataHash: 'h', records: 4 },
    finetune,
    baseModel: { ref: 'm', identity: { kind: 'provider', name: 'm' } },
  };
  const err = await env
    .run(acts.submitLoraJob, input)
    .then(
      () => assert.fail('expected cancellation'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof CancelledFailure, String(err));
  assert.equal(fake.jobs[0]!.status, 'cancelled');
  assert.equal((await listAdapters(store)).length, 0);
});
