// One model of the train stage: `python -m trainer.ctr.train` in a work directory derived from the
// model's output key, through the trainer-job runner, and the trainer's outputs (model.onnx,
// metrics.json, test_pred.npy, ...) committed under that key. Every epoch checkpoint is mirrored into
// the store (`checkpoints/<model key>/`), so a retry after a crash resumes from the newest one, in
// the same work directory or on another machine with an empty state dir.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { clearStoredCheckpoints, runPythonJob, type CheckpointStoreOptions, type DevicePool, type JobEvent, type JobState } from '../python-job';
import { StageOutput, StoreError, type ArtifactStore } from '../store';
import { TrainInputError } from './errors';
import { INGEST_FILES, buildSpec, jobName, knowledgeSetOf, type JobMetrics, type KnowledgePaths, type TrainConfig, type TrainJob } from './jobs';
import { JobMetricsSchema, modelKey, type TrainInputs } from './stage';

export interface TrainModelOptions {
  store: ArtifactStore;
  stateDir: string;
  job: TrainJob;
  train: TrainConfig;
  inputs: TrainInputs;
  python?: string;
  env?: NodeJS.ProcessEnv;
  /** The gpu worker's devices (one per trainer process). */
  devices?: DevicePool;
  signal?: AbortSignal;
  /** A checkpoint upload to the store failed (training goes on). */
  onCheckpointError?: (err: Error) => void;
  onEvent?: (event: JobEvent, state: JobState) => void;
  onHeartbeat?: (state: JobState) => void;
}

export interface TrainedModel {
  key: string;
  contentHash: string;
  /** The model's output existed: nothing trained. */
  skipped: boolean;
  metrics: JobMetrics;
  /** The epoch this attempt's trainer resumed from (0: from scratch), when it trained. */
  resumedFromEpoch?: number;
}

/** Where a model's epoch checkpoints are kept in the store while it trains. */
export function checkpointStoreOf(store: ArtifactStore, key: string): CheckpointStoreOptions {
  return { store, prefix: `checkpoints/${key}`, dir: '' };
}

/** Test-only: slows every training step (the trainer's `debug.stepDelayMs`) so a test can kill a job mid-training. */
const STEP_DELAY_ENV = 'R4EC_CTR_STEP_DELAY_MS';

/** The progress file is read this often: the heartbeats carry each epoch and checkpoint promptly. */
const POLL_MS = 250;

export async function trainModel(o: TrainModelOptions): Promise<TrainedModel> {
  const { job, train, inputs, store } = o;
  const key = modelKey(job, train, inputs);
  const out = new StageOutput(store, key);
  if (await out.isComplete()) {
    // A worker that died between the commit and the clean-up left its stored checkpoints behind.
    await clearStoredCheckpoints(checkpointStoreOf(store, key));
    return { key, contentHash: await out.contentHash(), skipped: true, metrics: JobMetricsSchema.parse(await out.getJson('metrics.json')) };
  }

  const dataFiles = await localPaths(store, inputs.ingest.key, INGEST_FILES, 'the ingest output');
  const set = knowledgeSetOf(job);
  let knowledge: KnowledgePaths | undefined;
  if (set) {
    const p = await localPaths(store, inputs.encode!.key, [`${set}/user.npy`, `${set}/user.ids.json`, `${set}/item.npy`, `${set}/item.ids.json`], 'the encode output');
    knowledge = { set, user: p[`${set}/user.npy`]!, userIds: p[`${set}/user.ids.json`]!, item: p[`${set}/item.npy`]!, itemIds: p[`${set}/item.ids.json`]! };
  }
  // Stable per model: a retry (or a new worker on this machine) finds the checkpoints here.
  const workDir = join(o.stateDir, 'train', key.replace(/\//g, '-'));
  const outDir = join(workDir, 'out');
  const env = o.env ?? process.env;
  const spec = buildSpec({ job, train, dataFiles, knowledge, workDir, outDir });
  const delay = Number(env[STEP_DELAY_ENV] ?? 0);
  if (delay > 0) spec.debug = { stepDelayMs: Math.round(delay) };
  const checkpoints = checkpointStoreOf(store, key);
  let resumedFromEpoch = 0;
  const r = await runPythonJob({
    job: 'ctr.train',
    workDir,
    spec,
    checkpoints,
    ...(o.devices ? { devices: o.devices } : {}),
    ...(o.python ? { python: o.python } : {}),
    // Spinning OpenMP threads slow training several-fold on a shared CPU (trainer/ctr/__init__.py).
    env: { ...env, OMP_WAIT_POLICY: env.OMP_WAIT_POLICY ?? 'PASSIVE' },
    pollMs: POLL_MS,
    heartbeatMs: 1000,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onCheckpointError ? { onCheckpointError: o.onCheckpointError } : {}),
    onEvent: (e, state) => {
      if (e.event === 'resume' && typeof e.epoch === 'number') resumedFromEpoch = e.epoch;
      if (e.event === 'start') resumedFromEpoch = 0;
      o.onEvent?.(e, state);
    },
    ...(o.onHeartbeat ? { onHeartbeat: o.onHeartbeat } : {}),
  });

  await out.putDir(outDir);
  const done = r.done as Record<string, unknown>;
  const metrics = JobMetricsSchema.parse({ auc: done.auc, logloss: done.logloss, ...pickNumbers(done, ['bestEpoch', 'trainSamplesPerSec', 'peakRssMb']) });
  // How this model came about (not part of its content hash): where its last trainer started from.
  const provenance = { resumedFromEpoch, launches: r.state.launches, ...(r.state.restoredCheckpoint ? { restoredCheckpoint: r.state.restoredCheckpoint } : {}) };
  const contentHash = await out.commit('train-model', { job, metrics, name: jobName(job), ...provenance });
  // The output is committed: the checkpoints are no longer needed to resume anything.
  await rm(workDir, { recursive: true, force: true });
  await clearStoredCheckpoints(checkpoints);
  return { key, contentHash, skipped: false, metrics, resumedFromEpoch };
}

/** Local paths of stored objects for numpy; a missing one is bad input, named exactly. */
async function localPaths(store: ArtifactStore, prefix: string, names: readonly string[], what: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      out[name] = await store.localPath(`${prefix}/${name}`);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'not_found') {
        throw new TrainInputError('DataError', `${what} ${prefix} has no ${name} (expected by the trainer; see docs/ARCHITECTURE.md)`);
      }
      throw err;
    }
  }
  return out;
}

function pickNumbers(o: Record<string, unknown>, keys: string[]): Record<string, number> {
  const r: Record<string, number> = {};
  for (const k of keys) if (typeof o[k] === 'number') r[k] = o[k];
  return r;
}
