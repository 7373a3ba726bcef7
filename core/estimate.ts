// `r4ec run --dry-run`: entities, LLM calls and tokens per stage and role before anything is spent.
// Calls come from the algorithms' structure (min = every judgement "reasonable" on the first try,
// max = every refinement and every format re-ask used); tokens from prompts rendered for real
// entities of the dataset (chars / 4, the usual English rule of thumb).
import type { R4ecConfig } from '../config/schema';
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
  const rows: EstimateRow[] = [];
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
  return rows.map((r) => ({ ...r, promptTokens: Math.round(r.promptTokens), completionTokens: Math.round(r.completionTokens) }));
}
