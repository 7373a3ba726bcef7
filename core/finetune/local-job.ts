// The local backend: one LoRA job is one `python -m trainer.lora.train` run in the job directory
// `<stateDir>/finetune/jobs/<jobKey>/` (spec, progress lines, log, pid file, checkpoints/, adapter/),
// followed by the trainer-job runner, so retries, a restarted worker and reruns all lead to one
// trainer and one adapter. The trainer runs detached from the worker: a crashed worker leaves it
// training, and the retried activity re-attaches to it. Every checkpoint is mirrored into the store
// (`checkpoints/lora/<jobKey>/`), so a retry on another machine resumes from the newest one.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runPythonJob, type CheckpointStoreOptions, type DevicePool, type JobEvent, type JobState } from '../python-job';
import type { ArtifactStore } from '../store';
import type { FinetuneConfig } from './jobs';
import type { BaseModelRef, PlannedJob } from './plan';

/** The trainer writes the finished adapter here (complete or not at all), with its metrics. */
export const ADAPTER_DIR = 'adapter';
const ADAPTER_META = 'r4ec-adapter.json';

/** The trainer's error kinds as the stage's failure types (the finetune workflow lists the final ones). */
const ERROR_CODES: Record<string, string> = {
  DataError: 'BadDataset',
  SpecError: 'BadTrainerSpec',
  BaseModelError: 'BaseModelMissing',
  OutOfMemory: 'OutOfMemory',
};

export function jobDirOf(stateDir: string, jobKey: string): string {
  return join(stateDir, 'finetune', 'jobs', jobKey);
}

/** Where a LoRA job's checkpoints are kept in the store while it trains (trainer/lora: `<workDir>/checkpoints/step-N/`). */
export function loraCheckpointStore(store: ArtifactStore, jobKey: string): CheckpointStoreOptions {
  return { store, prefix: `checkpoints/lora/${jobKey}`, dir: 'checkpoints' };
}

/** The job spec of trainer/lora (trainer/lora/spec.py). */
export function loraTrainerSpec(job: PlannedJob, ft: FinetuneConfig, baseModel: BaseModelRef, dataset: string, workDir: string): Record<string, unknown> {
  const l = ft.lora;
  return {
    jobKey: job.jobKey,
    baseModel: baseModel.ref,
    dataset,
    workDir,
    lora: { r: l.r, alpha: l.alpha, dropout: l.dropout, targetModules: l.targetModules },
    train: {
      epochs: l.epochs,
      learningRate: l.learningRate,
      scheduler: l.scheduler,
      warmupRatio: l.warmupRatio,
      batchSize: l.batchSize,
      microBatchSize: l.microBatchSize ?? null,
      cutoffLen: l.cutoffLen,
      checkpointEvery: l.checkpointEvery,
      seed: l.seed,
      device: ft.device,
      threads: ft.cpuThreads ?? null,
      gradientCheckpointing: l.gradientCheckpointing,
    },
  };
}

export interface LocalAdapter {
  adapterDir: string;
  metrics: Record<string, unknown>;
  /** This attempt followed a trainer it did not start. */
  attached: boolean;
}

export interface TrainLocalAdapterOptions {
  job: PlannedJob;
  finetune: FinetuneConfig;
  baseModel: BaseModelRef;
  /** Local path of the merged dataset. */
  dataset: string;
  stateDir: string;
  /** Mirror the checkpoints here (the workers' shared store), so any machine can resume the job. */
  store?: ArtifactStore;
  /** The gpu worker's devices (one per trainer process). */
  devices?: DevicePool;
  python?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onCheckpointError?: (err: Error) => void;
  onEvent?: (event: JobEvent, state: JobState) => void;
  onHeartbeat?: (state: JobState) => void;
}

/** Trains the job's adapter (or finds it finished, or re-attaches to its running trainer). */
export async function trainLocalAdapter(o: TrainLocalAdapterOptions): Promise<LocalAdapter> {
  const workDir = jobDirOf(o.stateDir, o.job.jobKey);
  const finished = await finishedAdapter(workDir, o.job.jobKey);
  if (finished) return { ...finished, attached: false };
  const ft = o.finetune;
  const r = await runPythonJob({
    job: 'lora.train',
    workDir,
    spec: loraTrainerSpec(o.job, ft, o.baseModel, o.dataset, workDir),
    ...(o.store ? { checkpoints: loraCheckpointStore(o.store, o.job.jobKey) } : {}),
    ...(o.devices ? { devices: o.devices } : {}),
    ...(o.onCheckpointError ? { onCheckpointError: o.onCheckpointError } : {}),
    ...(o.python ? { python: o.python } : {}),
    env: { ...(o.env ?? process.env), TOKENIZERS_PARALLELISM: 'false' },
    pollMs: ft.pollIntervalMs,
    stopGraceMs: ft.stopGraceSeconds * 1000,
    errorCode: (type) => ERROR_CODES[type] ?? 'TrainerFailed',
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onEvent ? { onEvent: o.onEvent } : {}),
    ...(o.onHeartbeat ? { onHeartbeat: o.onHeartbeat } : {}),
  });
  const { event: _e, pid: _p, t: _t, adapterDir, ...metrics } = r.done;
  return {
    adapterDir: typeof adapterDir === 'string' ? adapterDir : join(workDir, ADAPTER_DIR),
    metrics: { ...metrics, resumedFromStep: r.state.startStep ?? 0, launches: r.state.launches, ...(r.state.restoredCheckpoint ? { restoredCheckpoint: r.state.restoredCheckpoint } : {}) },
    attached: r.state.attached,
  };
}

/** The finished adapter of a job directory, when a trainer completed it earlier (no process needed). */
export async function finishedAdapter(jobDir: string, jobKey: string): Promise<{ adapterDir: string; metrics: Record<string, unknown> } | undefined> {
  const dir = join(jobDir, ADAPTER_DIR);
  try {
    const meta = JSON.parse(await readFile(join(dir, ADAPTER_META), 'utf8')) as { jobKey?: string; metrics?: Record<string, unknown> };
    if (meta.jobKey !== jobKey) return undefined;
    await stat(join(dir, 'adapter_config.json'));
    return { adapterDir: dir, metrics: meta.metrics ?? {} };
  } catch {
    return undefined;
  }
}
