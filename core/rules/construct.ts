// Algorithm 1's keep/discard rule (the paper's dataset construction), pure: the inference workflow
// applies it and the unit tests call it directly:
//   reasonable ∧ pred = label        → kept_reason (D_reason, D_reflect with an empty reflection)
//   ¬reasonable ∧ pred ≠ label       → refine; refined pred = label → kept_refine, else discard_refine_wrong
//   reasonable ∧ pred ≠ label        → discard_wrong_reasonable
//   ¬reasonable ∧ pred = label       → discard_correct_unreasonable
import type { ConstructOutcome } from '../../config/names';

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
