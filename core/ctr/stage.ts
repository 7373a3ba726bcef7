// The train stage in the store: its output key and plan (planStage), each model's own key, and the
// stage output that collects the models (summary.json, models.json, per model its metrics, model.json
// and test predictions).
import { z } from 'zod';
import { BACKBONES, VARIANTS } from '../../config/names';
import { faultPoint } from '../fault';
import { planStage } from '../stage/plan';
import type { StageArtifact, StagePlan } from '../rules/stage';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { TrainInputError } from './errors';
import { TRAIN_CODE_VERSION, jobConfigSlice, jobName, knowledgeSetOf, needsKnowledge, planJobs, stageConfigSlice, summarize, type JobOutcome, type TrainConfig, type TrainJob, type TrainSummary } from './jobs';

export const TrainJobSchema = z.union([
  z.object({ model: z.literal('floor') }),
  z.object({ model: z.enum(BACKBONES), features: z.enum(['paper', 'full']), variant: z.enum(VARIANTS), seed: z.number().int() }),
]);

export const JobMetricsSchema = z.object({
  auc: z.number(),
  logloss: z.number(),
  bestEpoch: z.number().int().optional(),
  trainSamplesPerSec: z.number().optional(),
  peakRssMb: z.number().optional(),
});

/** The stage's inputs: the ingest output, and the encode output when a variant needs knowledge. */
export interface TrainInputs {
  ingest: StageArtifact;
  encode?: StageArtifact | undefined;
}

/** The jobs to run, and their names (for progress and logs in the workflow, which cannot import core/ values). */
export interface TrainWork {
  jobs: TrainJob[];
  names: string[];
}

export type TrainPlan = StagePlan<TrainWork, TrainSummary>;

function stageInputs(train: TrainConfig, inputs: TrainInputs): string[] {
  if (!needsKnowledge(train)) return [inputs.ingest.contentHash];
  if (!inputs.encode) {
    throw new TrainInputError(
      'MissingStageInput',
      `train variants ${train.variants.join(', ')} need knowledge vectors, but no encode output was given (run the encode stage, or train only variants: [base])`,
    );
  }
  return [inputs.ingest.contentHash, inputs.encode.contentHash];
}

export function trainStageKey(train: TrainConfig, inputs: TrainInputs): string {
  return stageKey({ stage: 'train', codeVersion: TRAIN_CODE_VERSION, config: stageConfigSlice(train), inputs: stageInputs(train, inputs) });
}

/** One model's output key. A Base model does not depend on the vectors: a new encode output reuses it. */
export function modelKey(job: TrainJob, train: TrainConfig, inputs: TrainInputs): string {
  const set = knowledgeSetOf(job);
  if (set && !inputs.encode) throw new TrainInputError('MissingStageInput', `${jobName(job)} needs the encode output (knowledge set ${set})`);
  return stageKey({
    stage: 'train-model',
    codeVersion: TRAIN_CODE_VERSION,
    config: jobConfigSlice(job, train),
    inputs: set ? [inputs.ingest.contentHash, inputs.encode!.contentHash] : [inputs.ingest.contentHash],
  });
}

export function planTraining(o: { store: ArtifactStore; train: TrainConfig; inputs: TrainInputs; lookupOnly: boolean }): Promise<TrainPlan> {
  return planStage({
    store: o.store,
    key: trainStageKey(o.train, o.inputs),
    stage: 'train',
    lookupOnly: o.lookupOnly,
    summaryOf: (meta) => meta.summary as TrainSummary,
    work: () => {
      const jobs = planJobs(o.train);
      return Promise.resolve({ jobs, names: jobs.map(jobName) });
    },
  });
}

/** Where a model's files go inside the stage output. Only the primary feature set's models carry
 * test predictions there (the report reads `<backbone>/<variant>/…/test_pred.npy`). */
function collectDir(job: TrainJob, primary: string): string {
  if (job.model === 'floor') return 'floor';
  const base = `${job.model}/${job.variant}/seed-${job.seed}`;
  return job.features === primary ? base : `features-${job.features}/${base}`;
}

/** Writes and commits the stage output from the trained models (idempotent: a committed one is returned). */
export async function collectTraining(store: ArtifactStore, key: string, train: TrainConfig, outcomes: readonly JobOutcome[]): Promise<{ key: string; contentHash: string; summary: TrainSummary }> {
  const out = new StageOutput(store, key);
  if (await out.isComplete()) return { key, contentHash: await out.contentHash(), summary: await out.getJson<TrainSummary>('summary.json') };
  const summary = summarize(train, outcomes);
  const models: Record<string, string> = {};
  for (const o of outcomes) {
    models[jobName(o.job)] = o.key;
    const dir = collectDir(o.job, train.features);
    const files = ['metrics.json', 'model.json', ...(dir.startsWith('features-') ? [] : ['test_pred.npy'])];
    for (const f of files) {
      const src = `${o.key}/${f}`;
      if (await store.exists(src)) await out.put(`${dir}/${f}`, await store.get(src));
    }
  }
  await out.putJson('models.json', models);
  await out.putJson('summary.json', summary);
  const contentHash = await out.commit('train', { summary });
  faultPoint('train.collect.after-commit');
  return { key, contentHash, summary };
}
