// Collects what a run produced into ReportData: the pipeline's summary blocks, plus per-segment AUC
// computed from the trained models' test predictions and the ingested dataset.
import { BACKBONES, VARIANTS } from '../../config/names';
import { decodeNpy } from '../data/npy';
import { loadDataset } from '../data/dataset';
import type { LlmUsage } from '../rules/usage';
import type { ArtifactStore } from '../store';
import { aucDeltaInterval } from './intervals';
import { aucByBucket, ITEM_BUCKETS, meanStd, USER_BUCKETS } from './metrics';
import { TrainSummarySchema, type LatencyRow, type ReportData, type TableRow, type UsageRow } from './model';

export interface ReportInput {
  runId: string;
  datasetKind: string;
  simulator: boolean;
  /** Knowledge sets imported from files (`r4ec run --knowledge-from`) and the content hash of those files. */
  imported?: { sets: string[]; contentHash: string } | undefined;
  stages: Partial<Record<string, { status: string; seconds: number; skipped: boolean }>>;
  ingest?: Record<string, number> | undefined;
  construct?: { outcomes: Record<string, Record<string, number>> } | undefined;
  refine?: { outcomes: Record<string, Record<string, number>> } | undefined;
  train?: Record<string, unknown> | undefined;
  llm: LlmUsage & { models?: Record<string, string> };
  llmByStage?: Record<string, Partial<LlmUsage> & { byRole?: Record<string, Partial<UsageRow>>; latencyMs?: { entities: number; p50: number; p90: number; p99: number }; usd?: number; usdByRole?: Record<string, number> }>;
  artifacts: { ingest?: string; train?: string };
  /** The run summary's money block. */
  money?: { usd: number; unpriced: string[] } | undefined;
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

interface PredictionFiles {
  backbone: string;
  variant: string;
  /** seed → key of `…/<backbone>/<variant>/seed-<n>/test_pred.npy`. */
  seeds: Map<number, string>;
}

/** Finds every seed's `<backbone>/<variant>/seed-<n>/test_pred.npy` under the train artifact. */
async function predictionFiles(store: ArtifactStore, trainKey: string): Promise<PredictionFiles[]> {
  const out = new Map<string, PredictionFiles>();
  for (const key of (await store.list(`${trainKey}/`)).sort()) {
    if (!key.endsWith('test_pred.npy')) continue;
    const parts = key.slice(trainKey.length + 1).split('/');
    // Other feature sets' models live under features-<set>/ and carry no predictions; skip any that do.
    if (parts[0]?.startsWith('features-')) continue;
    const backbone = parts.find((p) => (BACKBONES as readonly string[]).includes(p));
    const variant = parts.find((p) => (VARIANTS as readonly string[]).includes(p));
    const seed = Number(/^seed-(-?\d+)$/.exec(parts.find((p) => p.startsWith('seed-')) ?? '')?.[1] ?? 'NaN');
    if (!backbone || !variant || !Number.isFinite(seed)) continue;
    const id = `${backbone}/${variant}`;
    const entry = out.get(id) ?? { backbone, variant, seeds: new Map<number, string>() };
    entry.seeds.set(seed, key);
    out.set(id, entry);
  }
  return [...out.values()];
}

/**
 * Bootstrap resamples per interval: 500 (a standard error to about 3 %) while that stays near 1e8
 * sample visits per row; fewer, down to 100, on large test splits (ML-1M: 95k samples × seeds).
 */
function intervalResamples(samples: number, seeds: number): number {
  return Math.max(100, Math.min(500, Math.floor(1e8 / Math.max(1, samples * seeds * 2))));
}

export async function buildReport(store: ArtifactStore, input: ReportInput, now = new Date()): Promise<ReportData> {
  const { rows, floor } = tableRows(input.train);
  const importedSets = new Set(input.imported?.sets ?? []);
  for (const row of rows) if (importedSets.has(row.variant)) row.imported = true;
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
    const files = await predictionFiles(store, input.artifacts.train);
    const probsOf = new Map<string, Map<number, Float32Array>>();
    for (const p of files) {
      const bySeed = new Map<number, Float32Array>();
      for (const [seed, key] of [...p.seeds].sort((a, b) => a[0] - b[0])) {
        const probs = decodeNpy(await store.get(key), key).data as Float32Array;
        if (probs.length === labels.length) bySeed.set(seed, probs);
      }
      if (bySeed.size === 0) continue;
      probsOf.set(`${p.backbone}/${p.variant}`, bySeed);
      // Segments from the first seed's model, as before seeds were reported.
      const first = bySeed.values().next().value!;
      userBuckets.push({ backbone: p.backbone, variant: p.variant, results: aucByBucket(labels, first, userTrain, USER_BUCKETS) });
      itemBuckets.push({ backbone: p.backbone, variant: p.variant, results: aucByBucket(labels, first, itemTrain, ITEM_BUCKETS) });
    }
    const users = Int32Array.from(test.user);
    for (const row of rows) {
      if (row.variant === 'base') continue;
      const base = probsOf.get(`${row.backbone}/base`);
      const variant = probsOf.get(`${row.backbone}/${row.variant}`);
      if (!base || !variant) continue;
      // Paired by seed: the seeds both models were trained with.
      const seeds = [...variant.keys()].filter((k) => base.has(k));
      if (seeds.length === 0) continue;
      // One row's bootstrap is seconds of synchronous work on a large test split: let the
      // activity's heartbeat timer run between rows.
      await new Promise<void>((r) => setImmediate(r));
      const d = aucDeltaInterval({ labels, users }, seeds.map((k) => base.get(k)!), seeds.map((k) => variant.get(k)!), { resamples: intervalResamples(labels.length, seeds.length) });
      row.deltaAuc = { delta: d.delta, lo: d.lo, hi: d.hi, seeds: d.seeds, noDifference: d.noDifference };
    }
  }
  const usage: UsageRow[] = [];
  const latency: LatencyRow[] = [];
  for (const [stage, u] of Object.entries(input.llmByStage ?? {})) {
    const roles = u.byRole ?? { all: u };
    for (const [role, r] of Object.entries(roles)) {
      const usd = u.byRole ? u.usdByRole?.[role] ?? (u.usdByRole ? 0 : undefined) : u.usd;
      usage.push({ stage, role, calls: r.calls ?? 0, cacheHits: r.cacheHits ?? 0, promptTokens: r.promptTokens ?? 0, completionTokens: r.completionTokens ?? 0, ...(usd !== undefined ? { usd } : {}) });
    }
    if (u.latencyMs) latency.push({ stage, ...u.latencyMs });
  }
  return {
    runId: input.runId,
    generatedAt: now.toISOString(),
    dataset: { kind: input.datasetKind, counts: input.ingest ?? {} },
    simulator: input.simulator,
    ...(input.imported ? { imported: { sets: [...input.imported.sets], contentHash: input.imported.contentHash } } : {}),
    stages: Object.entries(input.stages).flatMap(([stage, s]) => (s ? [{ stage, ...s }] : [])),
    table: rows,
    ...(floor ? { floor } : {}),
    userBuckets,
    itemBuckets,
    outcomes: { ...(input.construct ? { construct: input.construct.outcomes } : {}), ...(input.refine ? { refine: input.refine.outcomes } : {}) },
    llm: {
      total: { calls: input.llm.calls, cacheHits: input.llm.cacheHits, promptTokens: input.llm.promptTokens, completionTokens: input.llm.completionTokens },
      usage,
      latency,
      ...(input.money ? { money: { usd: input.money.usd, unpriced: input.money.unpriced } } : {}),
      ...(input.llm.models ? { models: input.llm.models } : {}),
    },
  };
}

export { meanStd };
