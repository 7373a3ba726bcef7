// Train activities (gpu queue): planTraining → trainBackbone per job → collectTraining.
// trainBackbone spawns `python -m trainer.ctr.train --spec spec.json` in a work directory derived
// from the job's output key, heartbeats its progress ({ epoch, step, checkpoint }), and commits the
// trainer's outputs (model.onnx, metrics.json, test_pred.npy, ...) under that key. A retry after a
// crash runs the trainer again in the same directory: it resumes from its newest epoch checkpoint.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { BACKBONES, VARIANTS } from '../config/names';
import { TrainSchema } from '../config/schema';
import {
  INGEST_FILES,
  TRAIN_CODE_VERSION,
  TrainerFailure,
  buildSpec,
  jobConfigSlice,
  jobName,
  knowledgeSetOf,
  needsKnowledge,
  planJobs,
  runTrainer,
  stageConfigSlice,
  summarize,
  type JobMetrics,
  type JobOutcome,
  type KnowledgePaths,
  type TrainJob,
  type TrainSummary,
  type TrainerEvent,
} from '../core/ctr';
import { StageOutput, StoreError, stageKey } from '../core/store';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { parseInput } from './validate';

/** Repository root: `python -m trainer.ctr.train` runs from here. */
const TRAINER_ROOT = resolve(__dirname, '..');

const Artifact = z.object({ key: z.string().min(1), contentHash: z.string().min(1) });
const Job = z.union([
  z.object({ model: z.literal('floor') }),
  z.object({ model: z.enum(BACKBONES), features: z.enum(['paper', 'full']), variant: z.enum(VARIANTS), seed: z.number().int() }),
]);
const Metrics = z.object({
  auc: z.number(),
  logloss: z.number(),
  bestEpoch: z.number().int().optional(),
  trainSamplesPerSec: z.number().optional(),
  peakRssMb: z.number().optional(),
});

const PlanInput = z.object({ runId: z.string().min(1), train: TrainSchema, ingest: Artifact, encode: Artifact.optional() });
export type PlanTrainingInput = z.input<typeof PlanInput>;
export interface PlanTrainingOutput {
  key: string;
  skipped: boolean;
  contentHash?: string;
  summary?: TrainSummary;
  jobs: TrainJob[];
  /** jobName of each job, same order (progress and logs in the workflow, which cannot import core/). */
  names?: string[];
}

const TrainInput = z.object({ runId: z.string().min(1), train: TrainSchema, job: Job, ingest: Artifact, encode: Artifact.optional() });
export type TrainBackboneInput = z.input<typeof TrainInput>;
export interface TrainBackboneOutput {
  key: string;
  contentHash: string;
  skipped: boolean;
  metrics: JobMetrics;
}

const CollectInput = z.object({
  key: z.string().min(1),
  train: TrainSchema,
  outcomes: z.array(z.object({ job: Job, key: z.string().min(1), metrics: Metrics })),
});
export type CollectTrainingInput = z.input<typeof CollectInput>;
export interface CollectTrainingOutput {
  key: string;
  contentHash: string;
  summary: TrainSummary;
}

/** Resume details of trainBackbone (what a retry logs; the checkpoint itself is on disk). */
const Heartbeat = z.object({ event: z.string(), job: z.string().optional(), epochs: z.number().optional(), epoch: z.number().optional(), step: z.number().optional(), checkpoint: z.string().optional() });

function stageInputs(train: z.infer<typeof TrainSchema>, ingest: z.infer<typeof Artifact>, encode?: z.infer<typeof Artifact>): string[] {
  if (!needsKnowledge(train)) return [ingest.contentHash];
  if (!encode) {
    throw ApplicationFailure.nonRetryable(
      `train variants ${train.variants.join(', ')} need knowledge vectors, but no encode output was given (run the encode stage, or train only variants: [base])`,
      'MissingStageInput',
    );
  }
  return [ingest.contentHash, encode.contentHash];
}

function modelKey(job: TrainJob, train: z.infer<typeof TrainSchema>, ingest: z.infer<typeof Artifact>, encode?: z.infer<typeof Artifact>): string {
  const set = knowledgeSetOf(job);
  return stageKey({
    stage: 'train-model',
    codeVersion: TRAIN_CODE_VERSION,
    config: jobConfigSlice(job, train),
    // A Base model does not depend on the vectors: a new encode output reuses it.
    inputs: set ? [ingest.contentHash, encode!.contentHash] : [ingest.contentHash],
  });
}

/** Local paths of stored objects for numpy; a missing one is bad input, named exactly. */
async function localPaths(deps: ActivityDeps, prefix: string, names: readonly string[], what: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      out[name] = await deps.store.localPath(`${prefix}/${name}`);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'not_found') {
        throw ApplicationFailure.nonRetryable(`${what} ${prefix} has no ${name} (expected by the trainer; see docs/ARCHITECTURE.md)`, 'DataError');
      }
      throw err;
    }
  }
  return out;
}

/** Where a model's files go inside the stage output. Only the primary feature set's models carry
 * test predictions there (the report reads `<backbone>/<variant>/…/test_pred.npy`). */
function collectDir(job: TrainJob, primary: string): string {
  if (job.model === 'floor') return 'floor';
  const base = `${job.model}/${job.variant}/seed-${job.seed}`;
  return job.features === primary ? base : `features-${job.features}/${base}`;
}

export function createTrainActivities(deps: ActivityDeps) {
  const python = deps.python ?? resolve(TRAINER_ROOT, '.tools', 'venv', 'bin', 'python');

  return {
    /** The stage's output key; its summary when it exists already, else the jobs to run. */
    async planTraining(raw: PlanTrainingInput): Promise<PlanTrainingOutput> {
      const input = parseInput(PlanInput, raw, 'planTraining');
      const key = stageKey({ stage: 'train', codeVersion: TRAIN_CODE_VERSION, config: stageConfigSlice(input.train), inputs: stageInputs(input.train, input.ingest, input.encode) });
      const out = new StageOutput(deps.store, key);
      if (await out.isComplete()) {
        return { key, skipped: true, contentHash: await out.contentHash(), summary: await out.getJson<TrainSummary>('summary.json'), jobs: [] };
      }
      const jobs = planJobs(input.train);
      return { key, skipped: false, jobs, names: jobs.map(jobName) };
    },

    /** Trains and evaluates one model (or the floor); reuses its output when it exists. */
    async trainBackbone(raw: TrainBackboneInput): Promise<TrainBackboneOutput> {
      const input = parseInput(TrainInput, raw, 'trainBackbone');
      const ctx = Context.current();
      const { job, train, ingest, encode } = input;
      const set = knowledgeSetOf(job);
      if (set && !encode) throw ApplicationFailure.nonRetryable(`${jobName(job)} needs the encode output (knowledge set ${set})`, 'MissingStageInput');
      const key = modelKey(job, train, ingest, encode);
      const out = new StageOutput(deps.store, key);
      if (await out.isComplete()) {
        return { key, contentHash: await out.contentHash(), skipped: true, metrics: Metrics.parse(await out.getJson('metrics.json')) };
      }

      const dataFiles = await localPaths(deps, ingest.key, INGEST_FILES, 'the ingest output');
      let knowledge: KnowledgePaths | undefined;
      if (set) {
        const p = await localPaths(deps, encode!.key, [`${set}/user.npy`, `${set}/user.ids.json`, `${set}/item.npy`, `${set}/item.ids.json`], 'the encode output');
        knowledge = { set, user: p[`${set}/user.npy`]!, userIds: p[`${set}/user.ids.json`]!, item: p[`${set}/item.npy`]!, itemIds: p[`${set}/item.ids.json`]! };
      }
      // Stable per job: a retry (or a new worker on this machine) finds the checkpoints here.
      const workDir = join(deps.stateDir, 'train', key.replace(/\//g, '-'));
      const outDir = join(workDir, 'out');
      await mkdir(workDir, { recursive: true });
      const specPath = join(workDir, 'spec.json');
      await writeFile(specPath, JSON.stringify(buildSpec({ job, train, dataFiles, knowledge, workDir, outDir }), null, 1));

      const previous = Heartbeat.safeParse(ctx.info.heartbeatDetails);
      const details: z.infer<typeof Heartbeat> = previous.success ? { ...previous.data, event: 'retry' } : { event: 'start', job: jobName(job), epochs: train.epochs };
      ctx.heartbeat(details);
      if (previous.success) ctx.log.info('trainBackbone resumes', { job: jobName(job), attempt: ctx.info.attempt, last: previous.data });

      let done: TrainerEvent;
      try {
        done = await runTrainer({
          python,
          trainerRoot: TRAINER_ROOT,
          specPath,
          env: deps.env,
          signal: ctx.cancellationSignal,
          onEvent: (e) => {
            if (typeof e.epoch === 'number') details.epoch = e.epoch;
            if (typeof e.step === 'number') details.step = e.step;
            if (e.event === 'checkpoint' && typeof e.path === 'string') details.checkpoint = e.path;
            details.event = e.event;
            ctx.heartbeat({ ...details, ...(e.event === 'epoch' ? { valAuc: e.valAuc, loss: e.loss } : {}) });
          },
        });
      } catch (err) {
        if (err instanceof TrainerFailure) throw toFailure(err, { prefix: jobName(job) });
        throw err;
      }

      await out.putDir(outDir);
      const metrics = Metrics.parse({ auc: done.auc, logloss: done.logloss, ...pick(done, ['bestEpoch', 'trainSamplesPerSec', 'peakRssMb']) });
      const contentHash = await out.commit('train-model', { job, metrics, name: jobName(job) });
      // The output is committed: the checkpoints are no longer needed to resume anything.
      await rm(workDir, { recursive: true, force: true });
      return { key, contentHash, skipped: false, metrics };
    },

    /** Writes the stage output: summary.json, models.json (job → model key) and per model its
     * metrics, model.json and test predictions; commits it. */
    async collectTraining(raw: CollectTrainingInput): Promise<CollectTrainingOutput> {
      const input = parseInput(CollectInput, raw, 'collectTraining');
      const out = new StageOutput(deps.store, input.key);
      if (await out.isComplete()) {
        return { key: input.key, contentHash: await out.contentHash(), summary: await out.getJson<TrainSummary>('summary.json') };
      }
      const outcomes = input.outcomes as JobOutcome[];
      const summary = summarize(input.train, outcomes);
      const models: Record<string, string> = {};
      for (const o of outcomes) {
        models[jobName(o.job)] = o.key;
        const dir = collectDir(o.job, input.train.features);
        const files = ['metrics.json', 'model.json', ...(dir.startsWith('features-') ? [] : ['test_pred.npy'])];
        for (const f of files) {
          const src = `${o.key}/${f}`;
          if (await deps.store.exists(src)) await out.put(`${dir}/${f}`, await deps.store.get(src));
        }
      }
      await out.putJson('models.json', models);
      await out.putJson('summary.json', summary);
      const contentHash = await out.commit('train', { summary });
      return { key: input.key, contentHash, summary };
    },
  };
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  for (const k of keys) if (typeof o[k] === 'number') r[k] = o[k];
  return r;
}
