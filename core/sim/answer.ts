// Answers for every R4ec prompt kind, in the exact format, plus the malformed answers the
// simulator injects as faults. Pure: same (messages, model, seed) → same answer.
import { createHash } from 'node:crypto';
import type { ChatMessage } from '../llm/types';
import { judgementStrings, knowledgeTag, tags, verdictStrings, type PromptKind } from '../prompts/tags';
import type { Catalog } from './catalog';
import { recognizePrompt, taskText, type RecognizedPrompt } from './recognize';
import { Rng } from './rng';
import {
  describeItem,
  describeUser,
  genresOf,
  itemFacts,
  itemReflection,
  itemScore,
  itemViewDistance,
  itemViewOf,
  profileDistance,
  profileOf,
  readItemCorrections,
  readStatedItemView,
  readStatedProfile,
  readUserCorrections,
  refineItemView,
  refineProfile,
  userFacts,
  userReflection,
  userScore,
  type Ctx,
} from './world';

export interface SimBehaviour {
  /** Reading noise of a base model (in rating units). */
  sigma: number;
  /** Noise multiplier for LoRA adapters (fine-tuned models read more carefully). */
  adapterScale: number;
  /** Noise multiplier when re-reading during refinement. */
  refineScale: number;
  /** P(flag) when the stated knowledge implies another verdict than the evidence. */
  flagWrong: number;
  /** P(flag) when it implies the same verdict (higher near the decision boundary). */
  flagRight: number;
  flagBorderline: number;
}

export const DEFAULT_BEHAVIOUR: SimBehaviour = {
  sigma: 0.7,
  adapterScale: 0.6,
  refineScale: 0.4,
  flagWrong: 0.85,
  flagRight: 0.04,
  flagBorderline: 0.3,
};

export interface AnswerContext {
  catalog: Catalog;
  /** The simulator's own seed (config/flag). */
  seed: number;
  model: string;
  /** The request's seed. */
  requestSeed: number;
  adapter: boolean;
  behaviour?: Partial<SimBehaviour>;
}

export interface SimAnswer {
  text: string;
  kind: PromptKind | undefined;
  /** What the simulator decided, for logs and benches: verdict (reason/refine construct) or judgement. */
  like?: boolean;
  reasonable?: boolean;
}

export function contentSeed(messages: readonly ChatMessage[], ctx: Pick<AnswerContext, 'seed' | 'model' | 'requestSeed'>): string {
  const h = createHash('sha256').update(taskText(messages)).digest('hex');
  return `${h}|${ctx.requestSeed}|${ctx.model}|${ctx.seed}`;
}

function verdictBlock(k: PromptKind, like: boolean): string {
  const v = verdictStrings(k.domain, k.medium);
  return `<${tags(k.medium).verdict}>${like ? v.like : v.dislike}</${tags(k.medium).verdict}>`;
}

function knowledgeAnswer(k: PromptKind, text: string, like: boolean): string {
  if (k.variant === 'inference') return text;
  const tag = knowledgeTag(k.domain, k.step === 'refine' ? 'refine' : 'reason', k.medium);
  return `<${tag}>${text}</${tag}>\n${verdictBlock(k, like)}`;
}

function judgementAnswer(k: PromptKind, reasonable: boolean, reflection: string): string {
  const t = tags(k.medium);
  const j = judgementStrings(k.domain, k.medium);
  return `<${t.judgement}>${reasonable ? j.reasonable : j.unreasonable}</${t.judgement}>\n<${t.reflection}>${reasonable ? '' : reflection}</${t.reflection}>`;
}

function answerUser(p: RecognizedPrompt, ctx: Ctx, rng: Rng, b: SimBehaviour, sigma: number): SimAnswer {
  const k = p.kind;
  const facts = userFacts(p.history, ctx);
  const truth = profileOf(facts);
  const targetGenres = p.target !== undefined ? genresOf(p.target, ctx.catalog) : [];
  const known = [...new Set([...facts.genres.keys(), ...targetGenres])];
  if (k.step === 'reason') {
    const prof = profileOf(facts, rng, sigma);
    const like = userScore(prof, targetGenres) >= 0;
    return { text: knowledgeAnswer(k, describeUser(prof, facts, ctx, rng), like), kind: k, like };
  }
  const stated = p.previous !== undefined ? readStatedProfile(p.previous, known) : undefined;
  if (k.step === 'reflect') {
    let pFlag: number;
    if (!stated) pFlag = 0.5;
    else if (k.variant === 'construct') {
      const disagree = userScore(stated, targetGenres) >= 0 !== userScore(truth, targetGenres) >= 0;
      pFlag = disagree ? b.flagWrong : Math.abs(userScore(truth, targetGenres)) < 0.75 ? b.flagBorderline : b.flagRight;
    } else {
      const d = profileDistance(stated, truth, facts);
      pFlag = d >= 2 ? b.flagWrong : d === 1 ? b.flagBorderline * 1.6 : b.flagRight;
    }
    const reasonable = rng.next() >= pFlag;
    const reflection = reasonable ? '' : userReflection(stated, truth, facts, ctx, targetGenres, rng);
    return { text: judgementAnswer(k, reasonable, reflection), kind: k, reasonable };
  }
  const refined = refineProfile(stated, readUserCorrections(p.reflection ?? ''), truth, facts, rng, sigma * b.refineScale);
  const like = userScore(refined, targetGenres) >= 0;
  return { text: knowledgeAnswer(k, describeUser(refined, facts, ctx, rng), like), kind: k, like };
}

function answerItem(p: RecognizedPrompt, ctx: Ctx, rng: Rng, b: SimBehaviour, sigma: number): SimAnswer {
  const k = p.kind;
  const facts = itemFacts(p.target ?? '', p.likeHistory ?? null, p.dislikeHistory ?? null, ctx);
  const truth = itemViewOf(facts);
  // The target user's taste is read without noise: the item knowledge must not describe them.
  const targetProfile = p.targetHistory ? profileOf(userFacts(p.targetHistory, ctx)) : undefined;
  const verdictOf = (view: typeof truth) => (targetProfile ? itemScore(view, targetProfile, facts.genres) >= 0 : true);
  if (k.step === 'reason') {
    const view = itemViewOf(facts, rng, sigma * 1.25);
    const like = verdictOf(view);
    return { text: knowledgeAnswer(k, describeItem(view, facts, ctx, rng), like), kind: k, like };
  }
  const stated = p.previous !== undefined ? readStatedItemView(p.previous, facts.genres) : undefined;
  if (k.step === 'reflect') {
    let pFlag: number;
    if (!stated) pFlag = 0.5;
    else if (k.variant === 'construct' && targetProfile) {
      const disagree = verdictOf(stated) !== verdictOf(truth);
      pFlag = disagree ? b.flagWrong : Math.abs(itemScore(truth, targetProfile, facts.genres)) < 0.75 ? b.flagBorderline : b.flagRight;
    } else {
      const d = itemViewDistance(stated, truth);
      pFlag = d >= 2 ? b.flagWrong : d === 1 ? b.flagBorderline * 1.6 : b.flagRight;
    }
    const reasonable = rng.next() >= pFlag;
    const reflection = reasonable ? '' : itemReflection(stated, truth, facts, ctx, rng);
    return { text: judgementAnswer(k, reasonable, reflection), kind: k, reasonable };
  }
  const refined = refineItemView(stated, readItemCorrections(p.reflection ?? ''), facts, rng, sigma * b.refineScale);
  const like = verdictOf(refined);
  return { text: knowledgeAnswer(k, describeItem(refined, facts, ctx, rng), like), kind: k, like };
}

const UNKNOWN_PROMPT =
  'I am the r4ec simulator and can only answer R4ec prompts (user preference or item knowledge: reason, reflect, refine).';

export function answer(messages: readonly ChatMessage[], ctx: AnswerContext): SimAnswer {
  const p = recognizePrompt(messages);
  if (!p) return { text: UNKNOWN_PROMPT, kind: undefined };
  const b = { ...DEFAULT_BEHAVIOUR, ...ctx.behaviour };
  const rng = new Rng(contentSeed(messages, ctx));
  const sigma = b.sigma * (ctx.adapter ? b.adapterScale : 1);
  const world: Ctx = { catalog: ctx.catalog, threshold: p.threshold, medium: p.kind.medium };
  return p.kind.domain === 'user' ? answerUser(p, world, rng, b, sigma) : answerItem(p, world, rng, b, sigma);
}

/** A malformed answer of the kind asked for: every variant must fail the project's parser. */
export function malformedAnswer(kind: PromptKind | undefined, good: string, rng: Rng): string {
  if (!kind) return '';
  const t = tags(kind.medium);
  if (kind.step === 'reflect') {
    const j = judgementStrings(kind.domain, kind.medium);
    return rng.pick([
      '',
      `<${t.reflection}>The analysis could be sharper in places.</${t.reflection}>`,
      `<${t.judgement}>["${j.reasonable}" or "${j.unreasonable}"]</${t.judgement}>\n<${t.reflection}></${t.reflection}>`,
      `<${t.judgement}>${j.unreasonable}</${t.judgement}>\n<${t.reflection}></${t.reflection}>`,
    ]);
  }
  if (kind.variant === 'inference') return rng.pick(['', 'I cannot tell.', '...']);
  const v = verdictStrings(kind.domain, kind.medium);
  const knowledgeOnly = good.replace(new RegExp(`\\n?<${t.verdict}>[\\s\\S]*$`), '');
  return rng.pick([
    '',
    knowledgeOnly,
    `${knowledgeOnly}\n<${t.verdict}>["${v.like}" or "${v.dislike}" here]</${t.verdict}>`,
    'Hard to say without more information about this user.',
  ]);
}

/** Well-formed but untidy: what real models do; the parser must still read it. */
export function sloppyAnswer(text: string, rng: Rng): string {
  if (!text.includes('<')) return text;
  return rng.pick([
    (s: string) => s.replace(/<(\/?)([A-Z][A-Za-z ]+)>/g, (_m, slash: string, name: string) => `<${slash}${name.toLowerCase()}>`),
    (s: string) => s.replace(/<\/Final Verdict>\s*$/, ''),
    (s: string) => `Sure! Here is my analysis.\n\n\`\`\`\n${s}\n\`\`\``,
    (s: string) => s.replace(/<(\/?)([A-Z][A-Za-z ]+)>/g, (_m, slash: string, name: string) => `< ${slash}${name.replace(/ /g, '_')} >`),
  ])(text);
}
