// `r4ec run --dry-run`: entities, LLM calls, tokens and money per stage and role before anything is
// spent. Calls come from the algorithms' structure (min = every judgement "reasonable" on the first
// try, max = every refinement and every format re-ask used); tokens from prompts rendered for real
// entities of the dataset (chars / 4, the usual English rule of thumb); money from the expected
// tokens at the role's model price, on the synchronous path and, for the teacher, the batch path.
import type { R4ecConfig } from '../config/schema';
import { LLM_ROLES, type LlmRole } from '../config/names';
import { costUsd, priceFor, priceTable } from './llm/prices';
import { roleSource } from './rules/roles';

/** How the estimate names a role the local model server answers (`llm.serveModel`). */
export const LOCAL_MODEL_LABEL = 'serve-model (local)';
import { latestTrainingInteractions } from './data/history';
import type { DatasetView } from './data/dataset';
import { mediumOf } from './construct/sample';
import { buildPrompt, type PromptSpec } from './prompts/builders';

export interface EstimateRow {
  stage: 'construct' | 'refine';
  domain: 'user' | 'item';
  role: 'teacher' | 'actor' | 'reflection';
  entities: number;
  callsMin: number;
  callsMax: number;
  promptTokens: number;
  completionTokens: number;
  /** The model the role asks; the simulator's name when it plays the role. */
  model: string;
  /** Played by the offline simulator: no money is spent. */
  simulator: boolean;
  /** USD for the expected tokens, synchronous; null when the model has no price. */
  usdSync: number | null;
  /** USD on the Batch API path; null when the role does not batch (only the teacher does) or has no price. */
  usdBatch: number | null;
}

type TokenRow = Omit<EstimateRow, 'model' | 'simulator' | 'usdSync' | 'usdBatch'>;

/**
 * The calls the Batch API path takes: every teacher call (construct's, and refine's kar set, which
 * the stage sends in batches before its fan-out).
 */
export const batchable = (r: { stage: string; role: string }) => r.role === 'teacher';

/** Money of each row at its role's model price (the configured `llm.prices` over the built-in list). */
export function priceRows(config: R4ecConfig, rows: readonly TokenRow[]): EstimateRow[] {
  const table = priceTable(config.llm.prices);
  const models = Object.fromEntries(
    LLM_ROLES.map((r) => [r, config.llm[r]?.model ?? (roleSource(config.llm, r) === 'serve-model' ? LOCAL_MODEL_LABEL : config.llm.simulator.model)]),
  ) as Record<LlmRole, string>;
  return rows.map((r) => {
    const source = roleSource(config.llm, r.role);
    const simulator = source === 'simulator';
    // The simulator and the local model server cost nothing.
    const price = source === 'endpoint' ? priceFor(models[r.role], table) : undefined;
    const usd = (path: 'sync' | 'batch') => (source !== 'endpoint' ? 0 : price ? costUsd(r, price, path) : null);
    return { ...r, model: models[r.role], simulator, usdSync: usd('sync'), usdBatch: batchable(r) ? usd('batch') : null };
  });
}

const tokens = (chars: number) => Math.ceil(chars / 4);
const COMPLETION_TOKENS = 260; // ~190 words of knowledge, as in the authors' data

export async function estimateRun(config: R4ecConfig, ds: DatasetView): Promise<EstimateRow[]> {
  const seq = await ds.sequences();
  const medium = mediumOf(ds.meta);
  const users = ds.meta.counts.users;
  const items = ds.entityItems().length;
  // A representative prompt per domain, rendered from the first user's and item's real history.
  const hist = latestTrainingInteractions(seq, 0, config.refine.historyLength).map((x) => ({ title: ds.item(x.item).title, rating: x.rating }));
  const userSpec = (step: 'reason' | 'reflect' | 'refine', variant: 'construct' | 'inference'): PromptSpec =>
    ({ domain: 'user', step, variant, medium, history: hist, ...(variant === 'construct' ? { target: hist[0]?.title ?? 'x' } : {}) }) as PromptSpec;
  const itemSpec = (step: 'reason' | 'reflect' | 'refine', variant: 'construct' | 'inference'): PromptSpec =>
    ({ domain: 'item', step, variant, medium, title: hist[0]?.title ?? 'x', likeHistory: hist, dislikeHistory: hist, ...(variant === 'construct' ? { targetHistory: hist } : {}) }) as PromptSpec;
  // Reflect and refine prompts carry an earlier answer (and its reflection): a typical-length stand-in.
  const earlier = 'word '.repeat(190).trim();
  const size = (spec: PromptSpec) =>
    tokens(
      buildPrompt({ ...spec, ...(spec.step !== 'reason' ? { previous: earlier } : {}), ...(spec.step === 'refine' ? { reflection: earlier.slice(0, 400) } : {}) } as PromptSpec).reduce(
        (n, m) => n + m.content.length,
        0,
      ),
    );
  const retries = config.llm.formatRetries + 1;
  const rows: TokenRow[] = [];
  for (const [domain, n, spec] of [
    ['user', users, userSpec],
    ['item', items, itemSpec],
  ] as const) {
    // construct: sampled entities × inferences; reason + reflect always, refine when judged wrong.
    const inf = Math.ceil(n * config.construct.sampleFraction) * config.construct.inferencesPerSample;
    const cPrompt = (size(spec('reason', 'construct')) + size(spec('reflect', 'construct'))) * inf;
    rows.push({ stage: 'construct', domain, role: 'teacher', entities: inf, callsMin: 2 * inf, callsMax: 3 * inf * retries, promptTokens: cPrompt + size(spec('refine', 'construct')) * Math.ceil(inf * 0.2), completionTokens: COMPLETION_TOKENS * 2.2 * inf });
    // refine: every entity (active-user strategy aside), kar once by the teacher.
    const full = n;
    rows.push({ stage: 'refine', domain, role: 'teacher', entities: full, callsMin: full, callsMax: full * retries, promptTokens: size(spec('reason', 'inference')) * full, completionTokens: COMPLETION_TOKENS * full });
    if (config.refine.strategy === 'filter') {
      const k = config.refine.filterSamples;
      rows.push({ stage: 'refine', domain, role: 'actor', entities: full, callsMin: k * full, callsMax: k * full * retries, promptTokens: size(spec('reason', 'inference')) * k * full, completionTokens: COMPLETION_TOKENS * k * full });
      rows.push({ stage: 'refine', domain, role: 'reflection', entities: full, callsMin: k * full, callsMax: k * full * retries, promptTokens: size(spec('reflect', 'inference')) * k * full, completionTokens: 120 * k * full });
    } else {
      const it = config.refine.maxIterations;
      rows.push({ stage: 'refine', domain, role: 'actor', entities: full, callsMin: full, callsMax: (1 + it) * full * retries, promptTokens: (size(spec('reason', 'inference')) + size(spec('refine', 'inference')) * it * 0.3) * full, completionTokens: COMPLETION_TOKENS * (1 + 0.3 * it) * full });
      rows.push({ stage: 'refine', domain, role: 'reflection', entities: full, callsMin: full, callsMax: (1 + it) * full * retries, promptTokens: size(spec('reflect', 'inference')) * (1 + 0.3 * it) * full, completionTokens: 120 * (1 + 0.3 * it) * full });
    }
  }
  return priceRows(
    config,
    rows.map((r) => ({ ...r, promptTokens: Math.round(r.promptTokens), completionTokens: Math.round(r.completionTokens) })),
  );
}

export interface MoneyEstimate {
  /** Per `${stage}/${role}`: USD on each path (null: unpriced, or no batch path for the role). */
  byStageRole: Record<string, { model: string; simulator: boolean; usdSync: number | null; usdBatch: number | null }>;
  /** Everything synchronous; the teacher on the batch path; and what the config will do. */
  total: { sync: number | null; teacherBatch: number | null; planned: number | null };
}

const addUsd = (a: number | null, b: number | null) => (a === null || b === null ? null : a + b);

export function estimateMoney(config: R4ecConfig, rows: readonly EstimateRow[]): MoneyEstimate {
  const byStageRole: MoneyEstimate['byStageRole'] = {};
  let sync: number | null = 0;
  let teacherBatch: number | null = 0;
  for (const r of rows) {
    const k = `${r.stage}/${r.role}`;
    const cur = (byStageRole[k] ??= { model: r.model, simulator: r.simulator, usdSync: 0, usdBatch: batchable(r) ? 0 : null });
    cur.usdSync = addUsd(cur.usdSync, r.usdSync);
    if (batchable(r)) cur.usdBatch = addUsd(cur.usdBatch, r.usdBatch);
    sync = addUsd(sync, r.usdSync);
    teacherBatch = addUsd(teacherBatch, batchable(r) ? r.usdBatch : r.usdSync);
  }
  return { byStageRole, total: { sync, teacherBatch, planned: config.llm.teacher?.batch.enabled ? teacherBatch : sync } };
}
