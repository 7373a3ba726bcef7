// The two inference strategies as pure decisions (PAPER.md "Inference strategies"): which step comes
// next, the outcome, and the final knowledge. Deterministic, with type-only imports, so the
// entity workflow runs them and the unit tests call them directly.
import type { RefineOutcome } from '../config/names';
import type { PromptSpec } from '../core/prompts/builders';
import type { EntitySample, FinalKnowledge, IterativeNext, RefineStep, RefineStrategy } from '../core/refine/steps';

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
