// Types of the two inference strategies (PAPER.md "Inference strategies") and their call counts.
// The decisions themselves are pure functions in workflows/refine-steps.ts (workflows may not import
// core values).
import type { RefineOutcome } from '../../config/names';

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
