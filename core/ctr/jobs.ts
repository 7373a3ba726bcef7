// The train stage's plan, keys, job specs and summary: pure functions (no I/O, no Temporal).
// One job = one model: the floor, or (features, backbone, variant, seed). Each job's output has its
// own key, so a rerun trains only what is missing; the stage output collects them.
import { BACKBONES, KNOWLEDGE_SETS, VARIANTS, type Backbone, type KnowledgeSet, type Variant } from '../../config/names';
import type { R4ecConfig } from '../../config/schema';
import { meanStd } from './metrics';

/** Bumped when the trainer's code changes what a job produces. */
export const TRAIN_CODE_VERSION = 'ctr-v3';

export type TrainConfig = R4ecConfig['train'];
export type FeatureSet = 'paper' | 'full';

export type TrainJob =
  | { model: 'floor' }
  | { model: Backbone; features: FeatureSet; variant: Variant; seed: number };

/** The primary feature set first, then the others asked for (`train.featureSets`). */
export function featureSets(train: TrainConfig): FeatureSet[] {
  return [...new Set<FeatureSet>([train.features, ...(train.featureSets ?? [])])];
}

export function planJobs(train: TrainConfig): TrainJob[] {
  const jobs: TrainJob[] = [];
  if (train.floor) jobs.push({ model: 'floor' });
  for (const features of featureSets(train))
    for (const model of train.backbones)
      for (const variant of train.variants) for (const seed of train.seeds) jobs.push({ model, features, variant, seed });
  return jobs;
}

export function jobName(job: TrainJob): string {
  return job.model === 'floor' ? 'floor' : `${job.features}/${job.model}/${job.variant}/seed-${job.seed}`;
}

export function knowledgeSetOf(job: TrainJob): KnowledgeSet | undefined {
  return job.model !== 'floor' && job.variant !== 'base' ? (job.variant as KnowledgeSet) : undefined;
}

/** Whether the configured variants need the encode stage's vectors. */
export function needsKnowledge(train: TrainConfig): boolean {
  return train.variants.some((v) => (KNOWLEDGE_SETS as readonly string[]).includes(v));
}

/** What changes a job's result; the key of its output hashes this (never paths, threads, device). */
export function jobConfigSlice(job: TrainJob, train: TrainConfig): Record<string, unknown> {
  if (job.model === 'floor') return { model: 'floor' };
  return {
    ...job,
    hyper: {
      epochs: train.epochs,
      patience: train.patience,
      batchSize: train.batchSize,
      learningRate: train.learningRate,
      weightDecay: train.weightDecay,
      embeddingDim: train.embeddingDim,
      mlp: train.mlp,
      dropout: train.dropout,
      validationFraction: train.validationFraction,
      monitor: train.monitor,
      ...(job.variant !== 'base'
        ? {
            adaptor: train.adaptor,
            connector: train.connector,
            knowledgeNorm: train.knowledgeNorm,
            knowledgeCross: train.knowledgeCross,
            knowledgeNoise: train.knowledgeNoise,
            knowledgeCutoff: train.knowledgeCutoff,
            ...(train.knowledgeCutoff > 0 ? { knowledgeCutoffMode: train.knowledgeCutoffMode } : {}),
          }
        : {}),
    },
  };
}

/** The stage's own config slice: everything but where and how fast it runs. */
export function stageConfigSlice(train: TrainConfig): Record<string, unknown> {
  const { device: _device, threads: _threads, heartbeatTimeoutSeconds: _hb, ...rest } = train;
  return rest;
}

export interface KnowledgePaths {
  set: KnowledgeSet;
  user: string;
  userIds: string;
  item: string;
  itemIds: string;
}

/** The JSON job spec of `python -m trainer.ctr.train` (trainer/ctr/job.py). */
export function buildSpec(a: {
  job: TrainJob;
  train: TrainConfig;
  dataFiles: Record<string, string>;
  knowledge?: KnowledgePaths;
  workDir: string;
  outDir: string;
}): Record<string, unknown> {
  const { job, train } = a;
  // dieWithParent: a killed worker must not leave a trainer running; its retry resumes from the checkpoint.
  const common = { data: { files: a.dataFiles }, workDir: a.workDir, outDir: a.outDir, device: train.device, threads: train.threads, dieWithParent: true };
  if (job.model === 'floor') return { model: 'floor', ...common };
  return {
    model: job.model,
    features: job.features,
    variant: job.variant,
    seed: job.seed,
    ...common,
    ...(a.knowledge ? { knowledge: a.knowledge } : {}),
    train: {
      epochs: train.epochs,
      patience: train.patience,
      batchSize: train.batchSize,
      learningRate: train.learningRate,
      weightDecay: train.weightDecay,
      embeddingDim: train.embeddingDim,
      mlp: train.mlp,
      connector: train.connector,
      adaptor: train.adaptor,
      dropout: train.dropout,
      validationFraction: train.validationFraction,
      knowledgeNorm: train.knowledgeNorm,
      knowledgeCross: train.knowledgeCross,
      knowledgeCutoff: train.knowledgeCutoff,
      knowledgeCutoffMode: train.knowledgeCutoffMode,
      knowledgeNoise: train.knowledgeNoise,
      monitor: train.monitor,
    },
    progressEverySteps: 50,
    export: true,
  };
}

/** Files of the ingest output a CTR job reads (trainer/ctr/data.py REQUIRED_FILES). */
export const INGEST_FILES: readonly string[] = [
  'meta.json',
  ...['train', 'test'].flatMap((s) =>
    ['user', 'pos', 'item', 'cat', 'rating', 'label', 'hist_item', 'hist_rating', 'hist_cat'].map((a) => `${s}/${a}.npy`),
  ),
  ...['offsets', 'item', 'rating', 'train_end'].map((a) => `seq/${a}.npy`),
];

export interface JobMetrics {
  auc: number;
  logloss: number;
  bestEpoch?: number;
  trainSamplesPerSec?: number;
  peakRssMb?: number;
}

export interface JobOutcome {
  job: TrainJob;
  key: string;
  metrics: JobMetrics;
}

export interface ModelResult {
  auc: number;
  logloss: number;
  /** With several seeds: sample standard deviations and the seed count. */
  aucStd?: number;
  loglossStd?: number;
  seeds?: number;
}
export type ResultsTable = Record<string, Record<string, ModelResult>>;

/** The `train` block of the run summary (docs/DESIGN.md, "CLI contract"), plus every feature set trained. */
export interface TrainSummary {
  features: FeatureSet;
  floor?: { auc: number; logloss: number };
  results: ResultsTable;
  byFeatures: Partial<Record<FeatureSet, ResultsTable>>;
  models: number;
}

export function summarize(train: TrainConfig, outcomes: readonly JobOutcome[]): TrainSummary {
  const byFeatures: Partial<Record<FeatureSet, ResultsTable>> = {};
  let floor: TrainSummary['floor'];
  const groups = new Map<string, { features: FeatureSet; backbone: string; variant: string; runs: JobMetrics[] }>();
  for (const o of outcomes) {
    if (o.job.model === 'floor') {
      floor = { auc: o.metrics.auc, logloss: o.metrics.logloss };
      continue;
    }
    const id = `${o.job.features}/${o.job.model}/${o.job.variant}`;
    const g = groups.get(id) ?? { features: o.job.features, backbone: o.job.model, variant: o.job.variant, runs: [] };
    g.runs.push(o.metrics);
    groups.set(id, g);
  }
  const backboneOrder = (b: string) => (BACKBONES as readonly string[]).indexOf(b);
  const variantOrder = (v: string) => (VARIANTS as readonly string[]).indexOf(v);
  const sorted = [...groups.values()].sort(
    (a, b) => backboneOrder(a.backbone) - backboneOrder(b.backbone) || variantOrder(a.variant) - variantOrder(b.variant),
  );
  for (const g of sorted) {
    const table = (byFeatures[g.features] ??= {});
    const a = meanStd(g.runs.map((r) => r.auc));
    const l = meanStd(g.runs.map((r) => r.logloss));
    const r: ModelResult = { auc: a.mean, logloss: l.mean };
    if (g.runs.length > 1) Object.assign(r, { aucStd: a.std, loglossStd: l.std, seeds: g.runs.length });
    (table[g.backbone] ??= {})[g.variant] = r;
  }
  return {
    features: train.features,
    ...(floor ? { floor } : {}),
    results: byFeatures[train.features] ?? {},
    byFeatures,
    models: outcomes.length,
  };
}
