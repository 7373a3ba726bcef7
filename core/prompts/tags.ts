// Format facts of the R4ec prompts: tag names and verdict/judgement strings. These are the paper's
// exact strings (the fine-tuned models learn them); everything else in the prompts is our own wording.
import type { Domain } from '../../config/names';

export type Medium = 'movie' | 'book';
export const MEDIA = ['movie', 'book'] as const;
export type Step = 'reason' | 'reflect' | 'refine';
export const STEPS = ['reason', 'reflect', 'refine'] as const;
/** construct = with the target item, asks for a verdict; inference = no target item (fine-tuned models). */
export type PromptVariant = 'construct' | 'inference';
export const PROMPT_VARIANTS = ['construct', 'inference'] as const;

/** Which prompt, and therefore which answer format. Serializable: activities receive it. */
export interface PromptKind {
  domain: Domain;
  step: Step;
  variant: PromptVariant;
  medium: Medium;
}

const Cap: Record<Medium, string> = { movie: 'Movie', book: 'Book' };

/** Default like thresholds, as the paper's: like = rating > 3 for movies (ML-1M), > 4 for books (Amazon). */
export const LIKE_THRESHOLD: Record<Medium, number> = { movie: 3, book: 4 };

export function tags(medium: Medium) {
  const M = Cap[medium];
  return {
    userHistory: 'User History',
    targetName: `Target ${M} Name`,
    likeHistory: 'Like User History',
    dislikeHistory: 'Dislike User History',
    targetUserHistory: 'Target User History',
    question: 'Question',
    userPreference: 'User Preference',
    previousUserPreference: 'Previous User Preference',
    refinedUserPreference: 'Refined User Preference',
    knowledge: `${M} Knowledge`,
    previousKnowledge: `Previous ${M} Knowledge`,
    refinedKnowledge: `Refined ${M} Knowledge`,
    verdict: 'Final Verdict',
    judgement: 'Final Judgement',
    reflection: 'Reflection',
  } as const;
}

/** The answer tag holding the knowledge text for (domain, step): reason and refine only. */
export function knowledgeTag(domain: Domain, step: 'reason' | 'refine', medium: Medium): string {
  const t = tags(medium);
  if (domain === 'user') return step === 'reason' ? t.userPreference : t.refinedUserPreference;
  return step === 'reason' ? t.knowledge : t.refinedKnowledge;
}

/** The input tag holding the previous knowledge in reflect/refine prompts. */
export function previousTag(domain: Domain, medium: Medium): string {
  const t = tags(medium);
  return domain === 'user' ? t.previousUserPreference : t.previousKnowledge;
}

/** Exact verdict strings: "user will like the target movie" (user) / "target user will …" (item). */
export function verdictStrings(domain: Domain, medium: Medium): { like: string; dislike: string } {
  const who = domain === 'user' ? 'user' : 'target user';
  return { like: `${who} will like the target ${medium}`, dislike: `${who} will not like the target ${medium}` };
}

/** Exact judgement strings: "The user preference is reasonable" / "The movie knowledge is …". */
export function judgementStrings(domain: Domain, medium: Medium): { reasonable: string; unreasonable: string } {
  const subject = domain === 'user' ? 'user preference' : `${medium} knowledge`;
  return { reasonable: `The ${subject} is reasonable`, unreasonable: `The ${subject} is not reasonable` };
}

/** Every tag name a prompt or answer of ours can contain (for neutralising them inside free text). */
export function allTagNames(): string[] {
  const names = new Set<string>();
  for (const m of MEDIA) for (const v of Object.values(tags(m))) names.add(v);
  return [...names];
}

export function kindLabel(k: PromptKind): string {
  return `${k.domain}.${k.step}.${k.variant}.${k.medium}`;
}
