// What the pipeline tells the CLI: live progress per stage (the `progress` query) and the run summary
// (the `summary` query, the workflow's result, and the details of its failure). The summary's JSON
// is the CLI contract (`r4ec run --json`): fields are only ever added, and in this order.
import type { ConstructSummary } from '../activities/construct';
import { DOMAINS, type ConstructOutcome, type Domain, type RefineOutcome, type Stage } from '../config/names';
import type { IngestSummary } from '../core/data/meta';
import type { TrainSummary } from '../core/ctr/jobs';
import type { FinetuneSummary } from '../core/finetune/plan';
import { addUsage, zeroUsage, type ArtifactName, type LlmUsage, type StageArtifact } from '../core/rules';
import type { ErrorBlock } from '../core/rules/error-block';
import type { RefineStageSummary } from './refine';
import type { ReportSummary } from './report';
import type { StageResult } from './stage-types';

export type StageStatus = 'pending' | 'running' | 'completed' | 'skipped' | 'failed';

export interface StageProgress {
  status: StageStatus;
  seconds: number;
  skipped: boolean;
  /** Whether the stage computed (selected) or only looked up its existing output. */
  selected: boolean;
  /** Epoch ms when it started running (for live elapsed times). */
  startedAt?: number;
}

export type StageTiming = Pick<StageProgress, 'status' | 'seconds' | 'skipped'>;

/** One result per domain (construct, refine). */
export type PerDomain<R> = Record<Domain, R>;

/** Outcome counts of a per-domain stage, by domain. */
export type DomainOutcomes<O extends string> = Partial<Record<Domain, Record<O, number>>>;

/** A stage's LLM usage; `byRole` / `latencyMs` when the stage reports them (the report shows them). */
export interface StageLlm extends LlmUsage {
  byRole?: Record<string, LlmUsage>;
  latencyMs?: { entities: number; p50: number; p90: number; p99: number };
  /** USD spent at llm.prices (batch answers at the batch price); set once the run's usage records are read. */
  usd?: number;
  usdByRole?: Record<string, number>;
  /** Models that spent tokens without a price (their tokens are not in usd). */
  unpriced?: string[];
}

/** The money the run spent (every stage's calls at llm.prices), by stage and role. */
export interface RunMoney {
  usd: number;
  byStage: Record<string, number>;
  byRole: Record<string, number>;
  /** `${stage}/${role}` */
  byStageRole: Record<string, number>;
  unpriced: string[];
}

/** Knowledge brought in from files (`r4ec run --knowledge-from DIR`) instead of construct / finetune / refine. */
export interface KnowledgeImport {
  /** DIR, as the workers read it. */
  dir: string;
  /** The knowledge sets DIR holds (DIR/<set>/user.jsonl and item.jsonl each). */
  sets: Array<'kar' | 'r2ec' | 'r4ec'>;
  /** Hash of the files' contents: the run id and the imported output's key follow it. */
  contentHash: string;
}

export interface RunLlm extends LlmUsage {
  models?: Record<string, string>;
}

export interface RunSummary {
  runId: string;
  configHash: string;
  stages: Partial<Record<Stage, StageTiming>>;
  ingest?: IngestSummary;
  construct?: { outcomes: DomainOutcomes<ConstructOutcome> };
  refine?: { outcomes: DomainOutcomes<RefineOutcome> };
  /** Present when the run's knowledge was imported; construct, finetune and refine are then "skipped". */
  imported?: KnowledgeImport & { records: Partial<Record<'kar' | 'r2ec' | 'r4ec', Record<Domain, number>>> };
  train?: TrainSummary;
  report?: ReportSummary;
  /**
   * Every stage's calls and tokens, summed; `models`: which model answered each role (`teacher`,
   * `actor`, `reflection`: an endpoint's model, the local model server's base model, or
   * `<name> (simulator)`) and, once finetune has run, the adapter refine asks per job (`user-actor`, …).
   */
  llm: RunLlm;
  /** Each stage's own `llm` block, for the report. */
  llmByStage: Partial<Record<Stage, StageLlm>>;
  /** Every stage child's output (construct and refine: one per domain). */
  artifacts: Partial<Record<ArtifactName, StageArtifact>>;
  /** `<stage>: <why>` when the run failed. */
  error?: string;
  /**
   * The same failure as data: code, message, stage, where (file, line, field, expected, found,
   * related lines; a config error's problems) and suggestion. Absent when the run did not fail.
   */
  failure?: ErrorBlock;
  /** USD spent, by stage and role (absent in runs from before money was counted). */
  money?: RunMoney;
}

export function emptySummary(runId: string, configHash: string): RunSummary {
  return { runId, configHash, stages: {}, llm: zeroUsage(), llmByStage: {}, artifacts: {} };
}

export function recordOutputs(s: RunSummary, outputs: ReadonlyArray<[ArtifactName, StageArtifact]>): void {
  for (const [name, artifact] of outputs) s.artifacts[name] = artifact;
}

export function recordTiming(s: RunSummary, stage: Stage, t: StageTiming): void {
  s.stages[stage] = t;
}

export function recordFailure(s: RunSummary, stage: Stage, seconds: number, why: string, failure?: ErrorBlock): void {
  s.stages[stage] = { status: 'failed', seconds, skipped: false };
  s.error = `${stage}: ${why}`;
  if (failure) s.failure = { ...failure, stage };
}

/** Adds a stage child's usage to the run's and the stage's totals. */
export function recordLlm(s: RunSummary, stage: Stage, llm: StageLlm): void {
  s.llm = { ...addUsage(s.llm, llm), ...(s.llm.models ? { models: s.llm.models } : {}) };
  const prev = s.llmByStage[stage];
  const byRole = llm.byRole ?? prev?.byRole;
  const latencyMs = llm.latencyMs ?? prev?.latencyMs;
  s.llmByStage[stage] = { ...addUsage(prev ?? zeroUsage(), llm), ...(byRole ? { byRole } : {}), ...(latencyMs ? { latencyMs } : {}) };
}

/** A per-domain stage's outcomes by domain; its children's calls go to the totals on the way. */
function domainOutcomes<O extends string>(s: RunSummary, stage: Stage, results: PerDomain<StageResult<{ outcomes: Record<O, number>; llm: StageLlm }>>): DomainOutcomes<O> {
  const outcomes: DomainOutcomes<O> = {};
  for (const domain of DOMAINS) {
    recordLlm(s, stage, results[domain].summary.llm);
    outcomes[domain] = results[domain].summary.outcomes;
  }
  return outcomes;
}

export function recordConstruct(s: RunSummary, results: PerDomain<StageResult<ConstructSummary>>): void {
  s.construct = { outcomes: domainOutcomes(s, 'construct', results) };
}

export function recordRefine(s: RunSummary, results: PerDomain<StageResult<RefineStageSummary>>): void {
  s.refine = { outcomes: domainOutcomes(s, 'refine', results) };
}

export function recordImport(s: RunSummary, imported: KnowledgeImport, records: NonNullable<RunSummary['imported']>['records']): void {
  s.imported = { ...imported, records };
}

/** The model each role asks, from the resolved config (before any stage runs). */
export function recordModels(s: RunSummary, models: Record<string, string> | undefined): void {
  if (models) s.llm = { ...s.llm, models: { ...models } };
}

/** The adapters refine asks for actor and reflection (by finetune job, e.g. `user-actor`). */
export function recordFinetune(s: RunSummary, r: StageResult<FinetuneSummary>): void {
  if (r.summary.backend === 'none') return;
  const adapters = Object.entries(r.summary.adapters);
  if (adapters.length === 0) return;
  s.llm = { ...s.llm, models: { ...s.llm.models, ...Object.fromEntries(adapters.map(([job, a]) => [job, a.servedName])) } };
}

export function recordIngest(s: RunSummary, r: StageResult<IngestSummary>): void {
  s.ingest = r.summary;
}

export function recordTrain(s: RunSummary, r: StageResult<TrainSummary>): void {
  s.train = r.summary;
}

export function recordReport(s: RunSummary, r: StageResult<ReportSummary>): void {
  s.report = r.summary;
}

/** The money summary of the run's usage records (core/llm/prices summarizeCost's shape). */
export interface MoneyInput {
  total: { usd: number; unpriced: string[] };
  byStage: Record<string, { usd: number; unpriced: string[] }>;
  byRole: Record<string, { usd: number; unpriced: string[] }>;
  byStageRole: Record<string, { usd: number; unpriced: string[] }>;
}

/** Sets the run's money and puts each stage's next to its tokens. */
export function recordMoney(s: RunSummary, m: MoneyInput): void {
  const usd = (r: Record<string, { usd: number }>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v.usd]));
  s.money = { usd: m.total.usd, byStage: usd(m.byStage), byRole: usd(m.byRole), byStageRole: usd(m.byStageRole), unpriced: m.total.unpriced };
  for (const [stage, v] of Object.entries(m.byStage)) {
    const st = s.llmByStage[stage as Stage];
    if (!st) continue;
    st.usd = v.usd;
    if (v.unpriced.length) st.unpriced = v.unpriced;
    const byRole: Record<string, number> = {};
    for (const [k, r] of Object.entries(m.byStageRole)) if (k.startsWith(`${stage}/`)) byRole[k.slice(stage.length + 1)] = r.usd;
    st.usdByRole = byRole;
  }
}
