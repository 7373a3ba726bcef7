// Prompt builders: construction variants (target item shown, verdict asked) and inference variants
// (no target item; what the fine-tuned actor and reflection models see), for user and item, for
// reason / reflect / refine, worded for movies and for books. The wording is ours; the structure
// and the tag and verdict strings follow the paper (PAPER.md).
import { z } from 'zod';
import type { ChatMessage } from '../llm/types';
import { renderHistory, type HistoryEntry } from './history';
import { neutralizeSpecialTokens } from './special-tokens';
import {
  allTagNames,
  judgementStrings,
  knowledgeTag,
  LIKE_THRESHOLD,
  previousTag,
  tags,
  verdictStrings,
  type Medium,
  type PromptKind,
} from './tags';
import { R4ecError } from '../errors';

const HistoryEntrySchema = z.object({ title: z.string(), rating: z.number().finite() }).strict();
const History = z.array(HistoryEntrySchema);
const kindFields = {
  step: z.enum(['reason', 'reflect', 'refine']),
  variant: z.enum(['construct', 'inference']),
  medium: z.enum(['movie', 'book']),
  /** like = rating > likeThreshold; default 3 for movies, 4 for books. */
  likeThreshold: z.number().optional(),
  /** Knowledge from the previous step (reflect, refine). */
  previous: z.string().optional(),
  /** The reflection on `previous` (refine). */
  reflection: z.string().optional(),
};

export const UserPromptSpecSchema = z
  .object({
    domain: z.literal('user'),
    ...kindFields,
    history: History,
    /** Target item's display title (construct only). */
    target: z.string().optional(),
  })
  .strict();

export const ItemPromptSpecSchema = z
  .object({
    domain: z.literal('item'),
    ...kindFields,
    /** The item's display title. */
    title: z.string(),
    /** null = no such user. */
    likeHistory: History.nullable(),
    dislikeHistory: History.nullable(),
    /** The target user's history (construct only). */
    targetHistory: History.optional(),
  })
  .strict();

export const PromptSpecSchema = z.discriminatedUnion('domain', [UserPromptSpecSchema, ItemPromptSpecSchema]);
export type UserPromptSpec = z.infer<typeof UserPromptSpecSchema>;
export type ItemPromptSpec = z.infer<typeof ItemPromptSpecSchema>;
export type PromptSpec = z.infer<typeof PromptSpecSchema>;

export class PromptSpecError extends R4ecError {
  constructor(message: string) {
    super(message, 'InvalidPrompt');
    this.name = 'PromptSpecError';
  }
}

export function promptKindOf(spec: PromptSpec): PromptKind {
  return { domain: spec.domain, step: spec.step, variant: spec.variant, medium: spec.medium };
}

/** The line that opens the answer-format section; the simulator and re-asks rely on it. */
export const FORMAT_MARKER = 'Answer in exactly this format:';

const ACTOR_SYSTEM = 'You are an experienced analyst for a recommender system.';
const JUDGE_SYSTEM = 'You are a fair and careful judge of recommender-system analyses.';

interface Words {
  noun: string;
  plural: string;
  entryFormat: string;
}
const WORDS: Record<Medium, Words> = {
  movie: { noun: 'movie', plural: 'movies', entryFormat: '["MOVIE TITLE (YEAR)", RATING]' },
  book: { noun: 'book', plural: 'books', entryFormat: '["BOOK TITLE", RATING]' },
};

function ratingRule(medium: Medium, threshold: number): string {
  return `A RATING above ${threshold} means the user liked the ${medium}; a RATING of ${threshold} or less means they did not.`;
}

function block(tag: string, content: string): string {
  return `<${tag}>${content}</${tag}>`;
}

/**
 * Free text from data (titles, earlier answers, reflections) must not be able to open or close one
 * of our sections, nor a turn of the model's chat template: both kinds of markup are shown with
 * look-alike brackets (`‹Final Verdict›`, `‹|im_end|›`).
 */
export function neutralizeTags(text: string): string {
  return neutralizeSpecialTokens(text.replace(TAG_LIKE, (m) => m.replace(/</g, '‹').replace(/>/g, '›')));
}
const TAG_LIKE = new RegExp(
  `<\\s*/?\\s*(?:${allTagNames().map((n) => n.split(' ').join('[\\s_-]*')).join('|')})\\s*>`,
  'gi',
);

function userPreferenceInstruction(medium: Medium, withTarget: boolean): string {
  const w = WORDS[medium];
  return `About 200 words on the user's taste in ${w.plural}, worked out step by step from the history.${withTarget ? ` Do not mention the target ${w.noun}.` : ''}`;
}

function itemKnowledgeInstruction(medium: Medium, withTarget: boolean): string {
  const attrs =
    medium === 'movie'
      ? 'genre, director and cast, country, characters, plot and themes, mood and tone, acclaim and awards'
      : 'genre, author, writing style, themes and setting';
  return (
    `About 200 words of knowledge about the target ${medium}, worked out step by step: 1. its basic attributes (${attrs}); ` +
    `2. what the users who like it have in common; 3. what the users who dislike it have in common.` +
    (withTarget ? ' Say nothing about the target user.' : '')
  );
}

function verdictLine(spec: PromptSpec): string {
  const v = verdictStrings(spec.domain, spec.medium);
  return block(tags(spec.medium).verdict, `["${v.like}" or "${v.dislike}"]`);
}

function need(spec: PromptSpec, field: 'previous' | 'reflection' | 'target' | 'targetHistory'): void {
  const v = (spec as Record<string, unknown>)[field];
  if (v === undefined) throw new PromptSpecError(`${spec.domain}.${spec.step}.${spec.variant} prompt needs "${field}"`);
}

function validate(spec: PromptSpec): void {
  if (spec.step !== 'reason') need(spec, 'previous');
  if (spec.step === 'refine') need(spec, 'reflection');
  if (spec.variant === 'construct') need(spec, spec.domain === 'user' ? 'target' : 'targetHistory');
  if (spec.variant === 'inference') {
    if (spec.domain === 'user' && spec.target !== undefined) throw new PromptSpecError('an inference prompt carries no target item');
    if (spec.domain === 'item' && spec.targetHistory !== undefined) throw new PromptSpecError('an inference prompt carries no target user');
  }
}

/** The "You are given" list and the input sections of the question, shared by all three steps. */
function givenAndInputs(spec: PromptSpec, extra: string[]): { given: string; inputs: string } {
  const w = WORDS[spec.medium];
  const t = tags(spec.medium);
  const thr = spec.likeThreshold ?? LIKE_THRESHOLD[spec.medium];
  const construct = spec.variant === 'construct';
  const lines: string[] = [];
  const inputs: string[] = [];
  if (spec.domain === 'user') {
    lines.push(`- The user's past ratings, one entry per title in the form ${w.entryFormat}. ${ratingRule(spec.medium, thr)}`);
    if (construct) lines.push(`- The name of the target ${w.noun}.`);
    inputs.push(block(t.userHistory, renderHistory(spec.history)));
    if (construct) inputs.push(block(t.targetName, neutralizeTags(spec.target ?? '')));
  } else {
    lines.push(`- The name of the target ${w.noun}.`);
    lines.push(
      `- The past ratings of one user who liked the target ${w.noun} and of one user who did not, each entry in the form ${w.entryFormat}. ${ratingRule(spec.medium, thr)}`,
    );
    if (construct) lines.push('- The past ratings of the target user.');
    inputs.push(block(t.targetName, neutralizeTags(spec.title)));
    inputs.push(block(t.likeHistory, renderHistory(spec.likeHistory)));
    inputs.push(block(t.dislikeHistory, renderHistory(spec.dislikeHistory)));
    if (construct) inputs.push(block(t.targetUserHistory, renderHistory(spec.targetHistory ?? [])));
  }
  lines.push(...extra);
  return { given: `You are given:\n${lines.join('\n')}`, inputs: inputs.join('\n\n') };
}

function subjectWords(spec: PromptSpec): { subject: string; previousWhat: string } {
  return spec.domain === 'user'
    ? { subject: 'user preference', previousWhat: 'user preference you summarised earlier' }
    : { subject: `${spec.medium} knowledge`, previousWhat: `knowledge about the target ${spec.medium} you summarised earlier` };
}

function taskLine(spec: PromptSpec): string {
  const n = WORDS[spec.medium].noun;
  if (spec.variant === 'construct') {
    return spec.domain === 'user'
      ? `Your task: decide whether the user will like the target ${n}.`
      : `Your task: decide whether the target user will like the target ${n}.`;
  }
  return spec.domain === 'user' ? "Your task: infer the user's preference." : `Your task: infer knowledge about the target ${n}.`;
}

function knowledgeInstruction(spec: PromptSpec): string {
  const construct = spec.variant === 'construct';
  return spec.domain === 'user' ? userPreferenceInstruction(spec.medium, construct) : itemKnowledgeInstruction(spec.medium, construct);
}

function reasonOrRefine(spec: PromptSpec): ChatMessage[] {
  const t = tags(spec.medium);
  const refine = spec.step === 'refine';
  const { subject, previousWhat } = subjectWords(spec);
  const extra = refine ? [`- The ${previousWhat}.`, `- A reflection on that earlier ${subject}.`] : [];
  const { given, inputs } = givenAndInputs(spec, extra);
  const sections = [taskLine(spec), given, inputs];
  if (refine) {
    sections.push(block(previousTag(spec.domain, spec.medium), neutralizeTags(spec.previous ?? '')));
    sections.push(block(t.reflection, neutralizeTags(spec.reflection ?? '')));
  }
  const instruction = knowledgeInstruction(spec);
  if (spec.variant === 'construct') {
    const ktag = knowledgeTag(spec.domain, refine ? 'refine' : 'reason', spec.medium);
    const closing = refine ? `Revise the earlier ${subject} using the reflection, then give your final answer.\n` : '';
    sections.push(`${closing}${FORMAT_MARKER}\n${block(ktag, `[${instruction}]`)}\n${verdictLine(spec)}`);
  } else {
    const closing = refine ? `Revise the earlier ${subject} using the reflection.\n\n` : '';
    sections.push(`${closing}${instruction} Reply with the text only.`);
  }
  return [
    { role: 'system', content: ACTOR_SYSTEM },
    { role: 'user', content: sections.join('\n\n') },
  ];
}

function reflect(spec: PromptSpec): ChatMessage[] {
  const t = tags(spec.medium);
  const n = WORDS[spec.medium].noun;
  const { subject } = subjectWords(spec);
  const { given, inputs } = givenAndInputs(spec, []);
  const question =
    spec.variant === 'construct'
      ? spec.domain === 'user'
        ? `Will the user like the target ${n}?`
        : `Will the target user like the target ${n}?`
      : spec.domain === 'user'
        ? "Infer the user's preference."
        : `Infer knowledge about the target ${n}.`;
  const j = judgementStrings(spec.domain, spec.medium);
  const avoid =
    spec.variant === 'construct' ? (spec.domain === 'user' ? ` Do not mention the target ${n}.` : ' Say nothing about the target user.') : '';
  const intro =
    spec.domain === 'user'
      ? 'Below is a recommendation question together with the user preference you inferred for it earlier. Examine that preference and reflect on it.'
      : `Below is a question about a ${n} together with the knowledge about it you inferred earlier. Examine that knowledge and reflect on it.`;
  const body = [
    intro,
    `${block(t.question, `\n${given}\n\n${inputs}\n\n${question}\n`)}`,
    block(previousTag(spec.domain, spec.medium), neutralizeTags(spec.previous ?? '')),
    `The earlier analysis may contain mistakes. Decide whether the ${subject} is sound, and reflect on it.\n${FORMAT_MARKER}\n` +
      `${block(t.judgement, `["${j.reasonable}" or "${j.unreasonable}"]`)}\n` +
      block(
        t.reflection,
        `[If the ${subject} is not reasonable: at most 200 words naming its main errors and misreadings.${avoid} If it is reasonable: leave this empty.]`,
      ),
  ];
  return [
    { role: 'system', content: JUDGE_SYSTEM },
    { role: 'user', content: body.join('\n\n') },
  ];
}

/** Chat messages (system + user) for a prompt. Throws PromptSpecError when a required field is missing. */
export function buildPrompt(input: PromptSpec): ChatMessage[] {
  const parsed = PromptSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new PromptSpecError(`invalid prompt spec: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const spec = parsed.data;
  validate(spec);
  return spec.step === 'reflect' ? reflect(spec) : reasonOrRefine(spec);
}
