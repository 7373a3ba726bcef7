// One LoRA job from plan to registered adapter, idempotent by job key: a job registered before is
// returned as is; otherwise the provider's job (found by its key, or created) or the local trainer
// (finished, running, or started) produces it and it is registered once.
import { mkdir } from 'node:fs/promises';
import OpenAI from 'openai';
import { clearStoredCheckpoints, type DevicePool, type JobEvent, type JobState } from '../python-job';
import type { ArtifactStore } from '../store';
import { FinetuneError } from './errors';
import { hyperParameters, type FinetuneConfig } from './jobs';
import { jobDirOf, loraCheckpointStore, trainLocalAdapter } from './local-job';
import { runOpenAiJob } from './openai-job';
import type { BaseModelRef, PlannedJob } from './plan';
import { getAdapter, registerAdapter, type AdapterEntry } from './registry';

export interface SubmitLoraJobOptions {
  store: ArtifactStore;
  stateDir: string;
  env: NodeJS.ProcessEnv;
  python?: string;
  /** The gpu worker's devices (one per trainer process). */
  devices?: DevicePool;
  job: PlannedJob;
  finetune: FinetuneConfig;
  baseModel: BaseModelRef;
  signal?: AbortSignal;
  /** The provider's job id from the last heartbeat, when a previous attempt got that far. */
  knownJobId?: string;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** Progress for heartbeats: the trainer's step and checkpoint, or the provider job's status. */
  heartbeat?: (details: Record<string, unknown>) => void;
}

export interface SubmittedJob {
  entry: AdapterEntry;
  /** The job was registered before (nothing ran). */
  reused: boolean;
  /** This attempt followed a trainer / provider job it did not start. */
  attached: boolean;
}

export async function submitLoraJob(o: SubmitLoraJobOptions): Promise<SubmittedJob> {
  const { job, finetune: ft } = o;
  const known = await getAdapter(o.store, job.jobKey);
  if (known) {
    // A worker that died between the registration and the clean-up left its stored checkpoints behind.
    await clearStoredCheckpoints(loraCheckpointStore(o.store, job.jobKey));
    return { entry: known, reused: true, attached: false };
  }
  if (ft.backend === 'none') throw new FinetuneError('BadTrainerSpec', 'finetune.backend is "none": no job to submit', false);
  const base = {
    jobKey: job.jobKey,
    job: job.name,
    domain: job.domain,
    role: job.role,
    backend: ft.backend,
    baseModel: o.baseModel.ref,
    dataHash: job.dataHash,
    records: job.records,
    hyperParameters: hyperParameters(ft),
    createdAt: new Date().toISOString(),
  };
  const jobDir = jobDirOf(o.stateDir, job.jobKey);
  const dataset = await o.store.localPath(job.datasetKey);

  if (ft.backend === 'openai') {
    const apiKey = o.env[ft.openai.apiKeyEnv];
    if (!apiKey) throw new FinetuneError('ProviderError', `finetune.openai: the environment variable ${ft.openai.apiKeyEnv} (the API key) is not set on the gpu worker`, false);
    const client = new OpenAI({ apiKey, ...(ft.openai.baseUrl ? { baseURL: ft.openai.baseUrl } : {}), maxRetries: 2 });
    await mkdir(jobDir, { recursive: true });
    const r = await runOpenAiJob({
      client,
      jobKey: job.jobKey,
      datasetPath: dataset,
      baseModel: o.baseModel.ref,
      hyper: { epochs: ft.lora.epochs, batchSize: ft.lora.batchSize, learningRateMultiplier: ft.openai.learningRateMultiplier, seed: ft.lora.seed },
      jobDir,
      pollMs: ft.openai.pollIntervalSeconds * 1000,
      ...(o.signal ? { signal: o.signal } : {}),
      knownJobId: o.knownJobId,
      onEvent: (e, j) => o.log?.(`fine-tuning job ${j.id}: ${e.message}`),
      onPoll: (j) => o.heartbeat?.({ jobKey: job.jobKey, jobId: j.id, status: j.status, trainedTokens: j.trained_tokens }),
    });
    const metrics = { trainedTokens: r.job.trained_tokens, events: r.events, status: r.job.status };
    const { entry } = await registerAdapter(o.store, { ...base, servedName: r.fineTunedModel, metrics, jobId: r.job.id });
    return { entry, reused: false, attached: r.attached };
  }

  const beat = (s: JobState) =>
    o.heartbeat?.({ jobKey: job.jobKey, pid: s.pid, step: s.step, totalSteps: s.totalSteps, loss: s.loss, checkpoint: s.checkpoint, checkpointStep: s.checkpointStep, attached: s.attached });
  const r = await trainLocalAdapter({
    job,
    finetune: ft,
    baseModel: o.baseModel,
    dataset,
    stateDir: o.stateDir,
    store: o.store,
    ...(o.devices ? { devices: o.devices } : {}),
    onCheckpointError: (e) => o.log?.(`lora ${job.name}: checkpoint upload to the store failed; training goes on`, { error: e.message }),
    env: o.env,
    ...(o.python ? { python: o.python } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onEvent: (e: JobEvent, s: JobState) => {
      if (e.event !== 'step') o.log?.(`lora ${job.name}: ${e.event}`, { ...e });
      beat(s);
    },
    onHeartbeat: beat,
  });
  const { entry } = await registerAdapter(o.store, { ...base, servedName: job.servedName, metrics: r.metrics, jobId: `local:${job.jobKey}` }, r.adapterDir);
  // Registered: the stored checkpoints are no longer needed to resume anything.
  await clearStoredCheckpoints(loraCheckpointStore(o.store, job.jobKey));
  return { entry, reused: false, attached: r.attached };
}
