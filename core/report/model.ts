import { z } from 'zod';
import type { LlmUsage } from '../rules/usage';
import type { BucketResult } from './metrics';

export interface MetricCell {
  mean: number;
  std: number;
  n: number;
}

export interface TableRow {
  backbone: string;
  variant: string;
  features: string;
  auc: MetricCell;
  logloss: MetricCell;
  /** Relative change of AUC / LogLoss vs this backbone's base row, in percent. */
  relAuc?: number;
  relLogloss?: number;
}

export interface UsageRow extends LlmUsage {
  stage: string;
  role: string;
}

export interface LatencyRow {
  stage: string;
  entities: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface ReportData {
  runId: string;
  generatedAt: string;
  dataset: { kind: string; counts: Record<string, number> };
  /** True when any role's answers came from the offline simulator: the knowledge is not an LLM's. */
  simulator: boolean;
  stages: Array<{ stage: string; status: string; seconds: number; skipped: boolean }>;
  table: TableRow[];
  floor?: { auc: number; logloss: number };
  userBuckets: Array<{ backbone: string; variant: string; results: BucketResult[] }>;
  itemBuckets: Array<{ backbone: string; variant: string; results: BucketResult[] }>;
  outcomes: { construct?: Record<string, Record<string, number>>; refine?: Record<string, Record<string, number>> };
  llm: { total: LlmUsage; usage: UsageRow[]; latency: LatencyRow[]; models?: Record<string, string> };
}

/** The train stage's summary block as the pipeline reports it (docs/DESIGN.md, "CLI contract"). */
export const TrainSummarySchema = z.object({
  features: z.string(),
  floor: z.object({ auc: z.number(), logloss: z.number() }).optional(),
  results: z.record(z.string(), z.record(z.string(), z.object({ auc: z.number(), logloss: z.number(), aucStd: z.number().optional(), loglossStd: z.number().optional(), seeds: z.number().optional() }).passthrough())),
});
