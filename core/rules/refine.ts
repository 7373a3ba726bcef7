// Refinement's rules as pure decisions (the paper's two inference strategies): which step comes
// next, the outcome, the final knowledge, how many calls an entity can make, and the visibility
// query for a run's failed entities. Deterministic, so the entity workflow runs them and the unit
// tests call them directly.
import type { Domain, RefineOutcome } from '../../config/names';
import type { PromptSpec } from '../prompts/builders';

export type RefineStrategy = 'iterative' | 'filter';

/** One actor answer and the reflection model's verdict on it (null: not judged, e.g. a call failed). */
export interface RefineStep {
  step: 'reason' | 'refine';
  /** Request seed of the actor call (filter samples use 0..n-1). */
  seed: number;
  model: string;
  text: string;
  judgement: { reasonable: boolean; reflection: string; model: string } | null;
}

export type FailureKind = 'failed_format' | 'failed_transport';

export interface StepFailure {
  outcome: FailureKind;
  /** Which call: kar, reason, reflect, refine (with the step index for chains and samples). */
  call: string;
  message: string;
}

/** The knowledge an entity contributes to the r4ec set. */
export interface FinalKnowledge {
  texts: string[];
  kept?: boolean[];
}

/** Iterative refinement: after `steps`, what comes next. */
export type IterativeNext = { kind: 'reflect' } | { kind: 'refine'; previous: string; reflection: string } | { kind: 'stop' };

/**
 * The fewest LLM calls the algorithm needs for one entity when nothing fails and no answer is cached:
 * kar (1) + iterative reason and judge (2), or kar + n samples and n judges.
 */
export function minimumCalls(strategy: RefineStrategy, filterSamples: number): number {
  return strategy === 'filter' ? 1 + 2 * filterSamples : 3;
}

/** The most calls one entity can make (reservations against the run-level cap). */
export function maximumCalls(strategy: RefineStrategy, maxIterations: number, filterSamples: number, formatRetries: number): number {
  const perCall = formatRetries + 1;
  return strategy === 'filter' ? (1 + 2 * filterSamples) * perCall : (3 + 2 * maxIterations) * perCall;
}

export const FAILED_OUTCOMES: readonly RefineOutcome[] = ['failed_format', 'failed_transport'];

/** An entity's inference-prompt inputs (everything but the step): what the listing activity builds. */
export type EntitySample =
  | { domain: 'user'; medium: 'movie' | 'book'; likeThreshold: number; history: Array<{ title: string; rating: number }> }
  | {
      domain: 'item';
      medium: 'movie' | 'book';
      likeThreshold: number;
      title: string;
      likeHistory: Array<{ title: string; rating: number }> | null;
      dislikeHistory: Array<{ title: string; rating: number }> | null;
    };

/**
 * reason → judge → (refine → judge)… : stop as soon as an answer is judged reasonable, or once
 * `maxIterations` refinements have been judged. Every answer is judged, so the last one's verdict
 * tells accepted_after_refine from budget_exhausted.
 */
export function nextIterativeStep(steps: readonly RefineStep[], maxIterations: number): IterativeNext {
  const last = steps[steps.length - 1];
  if (!last) throw new Error('nextIterativeStep: the chain starts with a reason step');
  if (!last.judgement) return { kind: 'reflect' };
  if (last.judgement.reasonable) return { kind: 'stop' };
  const refinements = steps.length - 1;
  if (refinements >= maxIterations) return { kind: 'stop' };
  return { kind: 'refine', previous: last.text, reflection: last.judgement.reflection };
}

/** Outcome of a finished iterative chain (every step judged). */
export function iterativeOutcome(steps: readonly RefineStep[]): RefineOutcome {
  const last = steps[steps.length - 1];
  if (!last?.judgement) throw new Error('iterativeOutcome: the chain is not finished');
  if (!last.judgement.reasonable) return 'budget_exhausted';
  return steps.length === 1 ? 'accepted_first' : 'accepted_after_refine';
}

/**
 * Reflection as a filter: n samples, keep those judged reasonable. The outcome says whether any
 * passed (accepted_first) or none did (budget_exhausted: the encoder then averages all samples).
 */
export function filterOutcome(samples: readonly RefineStep[]): { outcome: RefineOutcome; kept: boolean[] } {
  if (samples.some((s) => !s.judgement)) throw new Error('filterOutcome: every sample must be judged');
  const kept = samples.map((s) => s.judgement!.reasonable);
  return { outcome: kept.some(Boolean) ? 'accepted_first' : 'budget_exhausted', kept };
}

export function finalKnowledge(strategy: RefineStrategy, steps: readonly RefineStep[], kept?: boolean[]): FinalKnowledge {
  if (strategy === 'filter') return { texts: steps.map((s) => s.text), kept: kept ?? steps.map(() => true) };
  const last = steps[steps.length - 1];
  return { texts: last ? [last.text] : [] };
}

/** The inference-variant prompt spec for one step (core/prompts builds the messages from it). */
export function inferenceSpec(sample: EntitySample, step: 'reason' | 'reflect' | 'refine', previous?: string, reflection?: string): PromptSpec {
  return {
    ...sample,
    step,
    variant: 'inference',
    ...(previous !== undefined ? { previous } : {}),
    ...(reflection !== undefined ? { reflection } : {}),
  } as PromptSpec;
}

function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * The visibility query for a run's failed entities of a stage (refine entities, construct
 * inferences; paste into the Web UI or `temporal workflow list --query`). Every failed entity has
 * its own entity workflow, whichever way the stage ran.
 */
export function failedEntitiesQuery(runId: string, domain?: Domain, stage: 'refine' | 'construct' = 'refine'): string {
  const parts = [`R4ecRunId=${quote(runId)}`, `R4ecStage=${quote(stage)}`, `R4ecOutcome IN (${FAILED_OUTCOMES.map((o) => quote(o)).join(',')})`];
  if (domain) parts.push(`R4ecDomain=${quote(domain)}`);
  return parts.join(' AND ');
}
