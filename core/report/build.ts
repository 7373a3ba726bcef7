// Collects what a run produced into ReportData: the pipeline's summary blocks, plus per-segment AUC
// computed from the trained models' test predictions and the ingested dataset.
import { BACKBONES, VARIANTS } from '../../config/names';
import { decodeNpy } from '../data/npy';
import { loadDataset } from '../data/dataset';
import type { LlmUsage } from '../rules/usage';
import type { ArtifactStore } from '../store';
import { aucByBucket, ITEM_BUCKETS, meanStd, USER_BUCKETS } from './metrics';
import { TrainSummarySchema, type LatencyRow, type ReportData, type TableRow, type UsageRow } from './model';

export interface ReportInput {
  runId: string;
  datasetKind: string;
  simulator: boolean;
  stages: Partial<Record<string, { status: string; seconds: number; skipped: boolean }>>;
  ingest?: Record<string, number> | undefined;
  construct?: { outcomes: Record<string, Record<string, number>> } | undefined;
  refine?: { outcomes: Record<string, Record<string, number>> } | undefined;
  train?: Record<string, unknown> | undefined;
  llm: LlmUsage & { models?: Record<string, string> };
  llmByStage?: Record<string, Partial<LlmUsage> & { byRole?: Record<string, Partial<UsageRow>>; latencyMs?: { entities: number; p50: number; p90: number; p99: number } }>;
  artifacts: { ingest?: string; train?: string };
}

export function tableRows(train: unknown): { rows: TableRow[]; floor?: { auc: number; logloss: number } } {
  const parsed = TrainSummarySchema.safeParse(train);
  if (!parsed.success) return { rows: [] };
  const { features, floor, results } = parsed.data;
  const rows: TableRow[] = [];
  for (const backbone of Object.keys(results).sort((a, b) => BACKBONES.indexOf(a as never) - BACKBONES.indexOf(b as never))) {
    const byVariant = results[backbone]!;
    const base = byVariant.base;
    for (const variant of Object.keys(byVariant).sort((a, b) => VARIANTS.indexOf(a as never) - VARIANTS.indexOf(b as never))) {
      const r = byVariant[variant]!;
      const n = r.seeds ?? 1;
      const row: TableRow = { backbone, variant, features, auc: { mean: r.auc, std: r.aucStd ?? 0, n }, logloss: { mean: r.logloss, std: r.loglossStd ?? 0, n } };
      if (base && variant !== 'base') {
        row.relAuc = ((r.auc - base.auc) / base.auc) * 100;
        row.relLogloss = ((r.logloss - base.logloss) / base.logloss) * 100;
      }
      rows.push(row);
    }
  }
  return { rows, ...(floor ? { floor } : {}) };
}

/** Finds `…/<backbone>/<variant>/…/test_pred.npy` under the train artifact (first seed per model). */
async function predictionFiles(store: ArtifactStore, trainKey: string): Promise<Array<{ backbone: string; variant: string; key: string }>> {
  const out = new Map<string, { backbone: string; variant: string; key: string }>();
  for (const key of await store.list(`${trainKey}/`)) {
    if (!key.endsWith('test_pred.npy')) continue;
    const parts = key.slice(trainKey.length + 1).split('/');
    const backbone = parts.find((p) => (BACKBONES as readonly string[]).includes(p));
    const variant = parts.find((p) => (VARIANTS as readonly string[]).includes(p));
    if (!backbone || !variant) continue;
    const id = `${backbone}/${variant}`;
    if (!out.has(id)) out.set(id, { backbone, variant, key });
  }
  return [...out.values()];
}

export async function buildReport(store: ArtifactStore, input: ReportInput, now = new Date()): Promise<ReportData> {
  const { rows, floor } = tableRows(input.train);
  const userBuckets: ReportData['userBuckets'] = [];
  const itemBuckets: ReportData['itemBuckets'] = [];
  if (input.artifacts.ingest && input.artifacts.train) {
    const ds = await loadDataset(store, input.artifacts.ingest);
    const test = await ds.samples('test');
    const seq = await ds.sequences();
    const labels = Float64Array.from(test.label);
    // Training interactions per user (positions before train_end) and per item (meta.trainCount).
    const userTrain = Float64Array.from(test.user, (u) => seq.trainEnd[u]!);
    const itemTrain = Float64Array.from(test.item, (i) => ds.meta.items[i - 1]?.trainCount ?? 0);
    for (const p of await predictionFiles(store, input.artifacts.train)) {
      const probs = decodeNpy(await store.get(p.key), p.key).data as Float32Array;
      if (probs.length !== labels.length) continue;
      userBuckets.push({ backbone: p.backbone, variant: p.variant, results: aucByBucket(labels, probs, userTrain, USER_BUCKETS) });
      itemBuckets.push({ backbone: p.backbone, variant: p.variant, results: aucByBucket(labels, probs, itemTrain, ITEM_BUCKETS) });
    }
  }
  const usage: UsageRow[] = [];
  const latency: LatencyRow[] = [];
  for (const [stage, u] of Object.entries(input.llmByStage ?? {})) {
    const roles = u.byRole ?? { all: u };
    for (const [role, r] of Object.entries(roles)) {
      usage.push({ stage, role, calls: r.calls ?? 0, cacheHits: r.cacheHits ?? 0, promptTokens: r.promptTokens ?? 0, completionTokens: r.completionTokens ?? 0 });
    }
    if (u.latencyMs) latency.push({ stage, ...u.latencyMs });
  }
  return {
    runId: input.runId,
    generatedAt: now.toISOString(),
    dataset: { kind: input.datasetKind, counts: input.ingest ?? {} },
    simulator: input.simulator,
    stages: Object.entries(input.stages).flatMap(([stage, s]) => (s ? [{ stage, ...s }] : [])),
    table: rows,
    ...(floor ? { floor } : {}),
    userBuckets,
    itemBuckets,
    outcomes: { ...(input.construct ? { construct: input.construct.outcomes } : {}), ...(input.refine ? { refine: input.refine.outcomes } : {}) },
    llm: { total: { calls: input.llm.calls, cacheHits: input.llm.cacheHits, promptTokens: input.llm.promptTokens, completionTokens: input.llm.completionTokens }, usage, latency, ...(input.llm.models ? { models: input.llm.models } : {}) },
  };
}

export { meanStd };
