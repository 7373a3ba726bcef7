// Algorithm 1's keep/discard rule (the paper's dataset construction), pure: the inference workflow
// applies it and the unit tests call it directly:
//   reasonable ∧ pred = label        → kept_reason (D_reason, D_reflect with an empty reflection)
//   ¬reasonable ∧ pred ≠ label       → refine; refined pred = label → kept_refine, else discard_refine_wrong
//   reasonable ∧ pred ≠ label        → discard_wrong_reasonable
//   ¬reasonable ∧ pred = label       → discard_correct_unreasonable
import type { ConstructOutcome } from '../../config/names';
import type { InferenceSteps } from '../construct/records';
import type { ParsedAnswer } from '../llm/parse';
import type { PromptSpec } from '../prompts/builders';

export type AfterReflect = { outcome: ConstructOutcome; reason: string } | { refine: true };

function verdict(like: boolean): string {
  return like ? 'like' : 'dislike';
}

export function decideAfterReflect(predLike: boolean, label: boolean, reasonable: boolean): AfterReflect {
  const correct = predLike === label;
  if (reasonable && correct) return { outcome: 'kept_reason', reason: `judged reasonable and the verdict (${verdict(predLike)}) matches the label` };
  if (reasonable) return { outcome: 'discard_wrong_reasonable', reason: `judged reasonable but the verdict (${verdict(predLike)}) contradicts the label (${verdict(label)})` };
  if (correct) return { outcome: 'discard_correct_unreasonable', reason: `the verdict (${verdict(predLike)}) matches the label but the preference was judged not reasonable` };
  return { refine: true };
}

export function decideAfterRefine(refinedLike: boolean, label: boolean): { outcome: ConstructOutcome; reason: string } {
  return refinedLike === label
    ? { outcome: 'kept_refine', reason: `wrong verdict judged not reasonable; the refined verdict (${verdict(refinedLike)}) matches the label` }
    : { outcome: 'discard_refine_wrong', reason: `wrong verdict judged not reasonable; the refined verdict (${verdict(refinedLike)}) still contradicts the label (${verdict(label)})` };
}

/** A teacher call that gave no usable answer: the inference ends with this outcome and reason. */
export interface ConstructCallFailure {
  failed: ConstructOutcome;
  reason: string;
}

/** Asks the teacher one step of the inference; a failure ends the chain. */
export type ConstructAsk = (step: 'reason' | 'reflect' | 'refine', prompt: PromptSpec) => Promise<ParsedAnswer | ConstructCallFailure>;

/**
 * One pass of Algorithm 1 over an `ask` function: reason → reflect → (refine), the answers kept in
 * `steps` as far as they got. The inference workflow runs it with one activity per call; a batch
 * activity runs it in-process: the same calls in the same order, so the same outcome.
 */
export async function runConstructChain(label: boolean, reasonSpec: PromptSpec, ask: ConstructAsk, steps: InferenceSteps): Promise<{ outcome: ConstructOutcome; reason: string }> {
  const reason = await ask('reason', reasonSpec);
  if ('failed' in reason) return { outcome: reason.failed, reason: reason.reason };
  if (reason.type !== 'verdict') return { outcome: 'failed_format', reason: `reason: expected a verdict answer, got ${reason.type}` };
  steps.reason = { knowledge: reason.knowledge, like: reason.like };
  const judge = await ask('reflect', { ...reasonSpec, step: 'reflect', previous: reason.knowledge });
  if ('failed' in judge) return { outcome: judge.failed, reason: judge.reason };
  if (judge.type !== 'judgement') return { outcome: 'failed_format', reason: `reflect: expected a judgement, got ${judge.type}` };
  steps.reflect = { reasonable: judge.reasonable, reflection: judge.reflection };
  const next = decideAfterReflect(reason.like, label, judge.reasonable);
  if (!('refine' in next)) return next;
  const refined = await ask('refine', { ...reasonSpec, step: 'refine', previous: reason.knowledge, reflection: judge.reflection });
  if ('failed' in refined) return { outcome: refined.failed, reason: refined.reason };
  if (refined.type !== 'verdict') return { outcome: 'failed_format', reason: `refine: expected a verdict answer, got ${refined.type}` };
  steps.refine = { knowledge: refined.knowledge, like: refined.like };
  return decideAfterRefine(refined.like, label);
}
