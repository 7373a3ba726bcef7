// Parsing every R4ec answer format into typed results, or a typed FormatError.
//
// Only the assistant's answer is ever parsed — never the prompt — so nothing a title or an earlier
// answer puts into a prompt can change what is read back. Tolerated: tags in another case or
// spacing (`< final_verdict >`), a missing closing tag, the answer wrapped in markdown fences or
// prose, markdown headings instead of tags, the verdict written as a sentence, and two verdicts
// (the last one wins and `verdictCount` says how many there were).
import {
  allTagNames,
  judgementStrings,
  knowledgeTag,
  tags,
  verdictStrings,
  type Medium,
  type PromptKind,
} from '../prompts/tags';
import { R4ecError } from '../errors';

export type FormatErrorCode =
  | 'empty'
  | 'missing_knowledge'
  | 'missing_verdict'
  | 'ambiguous_verdict'
  | 'missing_judgement'
  | 'ambiguous_judgement'
  | 'missing_reflection'
  | 'template_echo';

/** An answer that does not parse; the client re-asks with a correction (never retried as transport). */
export class FormatError extends R4ecError {
  declare readonly code: FormatErrorCode;
  constructor(code: FormatErrorCode, message: string) {
    super(message, code);
    this.name = 'FormatError';
  }
}

/** Knowledge text (inference reason/refine: the bare answer). */
export interface KnowledgeAnswer {
  type: 'knowledge';
  knowledge: string;
}
/** Knowledge plus a verdict (construct reason/refine). `like` = the target will be liked. */
export interface VerdictAnswer {
  type: 'verdict';
  knowledge: string;
  like: boolean;
  /** How many verdict statements the answer held (>1: the last one was used). */
  verdictCount: number;
}
/** A reflection model's answer. `reflection` is '' when judged reasonable. */
export interface JudgementAnswer {
  type: 'judgement';
  reasonable: boolean;
  reflection: string;
  judgementCount: number;
}
export type ParsedAnswer = KnowledgeAnswer | VerdictAnswer | JudgementAnswer;

/** Words a knowledge text must at least have; anything shorter is not an answer. */
const MIN_KNOWLEDGE_WORDS = 8;

// ---------------------------------------------------------------- tag and section extraction

interface Section {
  content: string;
  /** Offset of the opening tag/heading, and of the first character after the section. */
  start: number;
  end: number;
  closed: boolean;
}

function tagPattern(name: string): string {
  return name
    .trim()
    .split(/\s+/)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s_-]*');
}

const ANY_OPEN = new RegExp(`<\\s*(?:${allTagNames().map(tagPattern).join('|')})\\s*>`, 'gi');

/** Every `<name>…</name>` section, in order; an unclosed one ends at the next known opening tag. */
export function findSections(text: string, name: string): Section[] {
  const open = new RegExp(`<\\s*${tagPattern(name)}\\s*>`, 'gi');
  const close = new RegExp(`<\\s*/\\s*${tagPattern(name)}\\s*>`, 'gi');
  const out: Section[] = [];
  let m: RegExpExecArray | null;
  while ((m = open.exec(text))) {
    const from = m.index + m[0].length;
    close.lastIndex = from;
    const c = close.exec(text);
    ANY_OPEN.lastIndex = from;
    const next = ANY_OPEN.exec(text);
    const nextOpen = next ? next.index : text.length;
    if (c && c.index <= nextOpen) {
      out.push({ content: text.slice(from, c.index), start: m.index, end: c.index + c[0].length, closed: true });
      open.lastIndex = c.index + c[0].length;
    } else {
      out.push({ content: text.slice(from, nextOpen), start: m.index, end: nextOpen, closed: false });
      open.lastIndex = nextOpen;
    }
  }
  return out;
}

/** `**Final Verdict:** …` / `### User Preference` style sections, used only when no tag is present. */
function findHeadingSections(text: string, name: string, allNames: string[]): Section[] {
  const heading = (n: string) => `(?:^|\\n)[ \\t]*(?:#{1,6}[ \\t]*)?(?:\\*\\*|__)?[ \\t]*${tagPattern(n)}[ \\t]*(?:\\*\\*|__)?[ \\t]*:?[ \\t]*(?:\\*\\*|__)?`;
  const re = new RegExp(heading(name), 'gi');
  const anyRe = new RegExp(allNames.map(heading).join('|'), 'gi');
  const out: Section[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const from = m.index + m[0].length;
    anyRe.lastIndex = from;
    const next = anyRe.exec(text);
    const end = next ? next.index : text.length;
    out.push({ content: text.slice(from, end), start: m.index, end, closed: false });
  }
  return out;
}

function sections(text: string, name: string, siblings: string[]): Section[] {
  const tagged = findSections(text, name);
  return tagged.length > 0 ? tagged : findHeadingSections(text, name, siblings);
}

function stripFences(s: string): string {
  return s.replace(/```[a-zA-Z0-9_-]*[ \t]*\n?/g, '').replace(/```/g, '');
}

/** Content of a knowledge section: trimmed, outer template brackets/quotes and markdown removed. */
function cleanText(s: string): string {
  let t = stripFences(s).trim();
  for (let i = 0; i < 2; i++) {
    if (t.startsWith('[') && matchingBracket(t) === t.length - 1) t = t.slice(1, -1).trim();
    if (/^"[^"]*"$/.test(t)) t = t.slice(1, -1).trim();
  }
  return t.replace(/^(?:\*\*|__)\s*/, '').replace(/\s*(?:\*\*|__)$/, '').trim();
}

/** Index of the `]` closing the `[` at 0, or -1. */
function matchingBracket(t: string): number {
  let depth = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '[') depth++;
    else if (t[i] === ']' && --depth === 0) return i;
  }
  return -1;
}

function wordCount(s: string): number {
  return s.split(/\s+/).filter(Boolean).length;
}

function looksLikeTemplate(s: string): boolean {
  return /^\[?\s*About 200 words\b/i.test(s) || /^\[?\s*Summari[sz]e (?:user preference|your knowledge)\b.*200 words/i.test(s);
}

function requireKnowledge(raw: string, what: string): string {
  const k = cleanText(raw);
  if (k === '') throw new FormatError('missing_knowledge', `the ${what} section is empty`);
  if (looksLikeTemplate(k)) throw new FormatError('template_echo', `the ${what} section repeats the instructions instead of answering`);
  if (wordCount(k) < MIN_KNOWLEDGE_WORDS) {
    throw new FormatError('missing_knowledge', `the ${what} section has ${wordCount(k)} words; at least ${MIN_KNOWLEDGE_WORDS} expected`);
  }
  return k;
}

// ---------------------------------------------------------------- verdicts and judgements

interface Statement {
  value: boolean;
  at: number;
  end: number;
}

function normalize(s: string): string {
  return s
    .toLowerCase()
    .replace(/[’‘`´]/g, "'")
    .replace(/[[\]"*_#>]/g, ' ')
    .replace(/\s+/g, ' ');
}

const VERB = '(?:like|enjoy|love|appreciate)';
const NEG_VERDICT = new RegExp(
  `\\b(?:will not|won't|wont|would not|wouldn't|does not|doesn't|is not going to|isn't going to|not going to|is unlikely to|unlikely to|will likely not|would likely not|will probably not|will not really|can't|cannot)\\s+${VERB}\\b|\\b(?:will |would |is likely to |to )?dislike\\b|\\bnot ${VERB}\\b`,
  'g',
);
const POS_VERDICT = new RegExp(`\\b(?:will|would|does|is going to|going to|is likely to|likely to|will likely|would likely|will probably|should)\\s+${VERB}\\b`, 'g');
const NEG_JUDGE = /\bnot (?:a )?reasonable\b|\bunreasonable\b|\bisn't reasonable\b|\bnot sound\b|\bnot plausible\b/g;
const POS_JUDGE = /\breasonable\b|\bsound\b|\bplausible\b/g;

function statements(s: string, neg: RegExp, pos: RegExp): Statement[] {
  const n = normalize(s);
  const found: Statement[] = [];
  for (const m of n.matchAll(neg)) found.push({ value: false, at: m.index, end: m.index + m[0].length });
  for (const m of n.matchAll(pos)) {
    const at = m.index;
    const end = at + m[0].length;
    if (!found.some((f) => !f.value && at < f.end && end > f.at)) found.push({ value: true, at, end });
  }
  found.sort((a, b) => a.at - b.at);
  // "X or Y" with both polarities is the template echoed back, not an answer.
  for (let i = 1; i < found.length; i++) {
    const a = found[i - 1]!;
    const b = found[i]!;
    if (a.value !== b.value && / or /.test(n.slice(a.end, b.at)) && n.slice(a.end, b.at).length < 60) {
      throw new FormatError('template_echo', 'the answer lists both options instead of choosing one');
    }
  }
  return found;
}

/** Reads a verdict from free text; exported for tests and the simulator's self-checks. */
export function readVerdictText(s: string): { like: boolean; count: number } | undefined {
  const st = statements(s, NEG_VERDICT, POS_VERDICT);
  if (st.length === 0) return undefined;
  return { like: st[st.length - 1]!.value, count: st.length };
}

function readJudgementText(s: string): { reasonable: boolean; count: number } | undefined {
  const st = statements(s, NEG_JUDGE, POS_JUDGE);
  if (st.length === 0) return undefined;
  return { reasonable: st[st.length - 1]!.value, count: st.length };
}

// ---------------------------------------------------------------- answer parsers

function answerTagNames(medium: Medium): string[] {
  const t = tags(medium);
  return [t.userPreference, t.refinedUserPreference, t.knowledge, t.refinedKnowledge, t.verdict, t.judgement, t.reflection];
}

function parseVerdictAnswer(text: string, kind: PromptKind): VerdictAnswer {
  if (text.trim() === '') throw new FormatError('empty', 'the answer is empty');
  const names = answerTagNames(kind.medium);
  const kTag = knowledgeTag(kind.domain, kind.step === 'refine' ? 'refine' : 'reason', kind.medium);
  const verdictTag = tags(kind.medium).verdict;
  // A refined answer may reuse the first-step tag, and a first answer may say "Refined": accept both.
  const altTag = knowledgeTag(kind.domain, kind.step === 'refine' ? 'reason' : 'refine', kind.medium);
  let kSections = sections(text, kTag, names);
  if (kSections.length === 0) kSections = findSections(text, altTag);
  const vSections = sections(text, verdictTag, names);

  let knowledgeRaw: string | undefined = kSections[0]?.content;
  let like: boolean | undefined;
  let count = 0;
  for (const v of vSections) {
    const r = readVerdictText(v.content);
    if (r) {
      like = r.like;
      count += r.count;
    }
  }
  if (like === undefined) {
    // The verdict as a sentence after the knowledge ("…so the user will not like the target movie.").
    const tail = text.slice(kSections.length > 0 ? kSections[kSections.length - 1]!.end : 0);
    const sentences = tail.split(/(?<=[.!?\n])/).filter((s) => /\btarget\b/i.test(s));
    for (const s of sentences) {
      const r = readVerdictText(s);
      if (r) {
        like = r.like;
        count += r.count;
      }
    }
  }
  if (like === undefined) {
    if (vSections.length > 0) {
      const v = verdictStrings(kind.domain, kind.medium);
      throw new FormatError('ambiguous_verdict', `the ${verdictTag} section does not say "${v.like}" or "${v.dislike}"`);
    }
    throw new FormatError('missing_verdict', `no <${verdictTag}> in the answer`);
  }
  if (knowledgeRaw === undefined) {
    // Untagged knowledge before the verdict: accepted when substantial.
    const firstV = vSections[0]?.start ?? text.length;
    knowledgeRaw = text.slice(0, firstV);
    if (wordCount(cleanText(knowledgeRaw)) < 20) throw new FormatError('missing_knowledge', `no <${kTag}> in the answer`);
  }
  return { type: 'verdict', knowledge: requireKnowledge(knowledgeRaw, kTag), like, verdictCount: count };
}

const EMPTY_REFLECTION = /^(?:nothing(?: here)?|none|n\/?a|no reflection(?: needed)?|empty|-+|\(empty\)|\(none\))?[.!]?$/i;

function parseJudgementAnswer(text: string, kind: PromptKind): JudgementAnswer {
  if (text.trim() === '') throw new FormatError('empty', 'the answer is empty');
  const names = answerTagNames(kind.medium);
  const t = tags(kind.medium);
  const jSections = sections(text, t.judgement, names);
  let reasonable: boolean | undefined;
  let count = 0;
  for (const s of jSections) {
    const r = readJudgementText(s.content);
    if (r) {
      reasonable = r.reasonable;
      count += r.count;
    }
  }
  const j = judgementStrings(kind.domain, kind.medium);
  if (reasonable === undefined) {
    if (jSections.length > 0) throw new FormatError('ambiguous_judgement', `the ${t.judgement} section says neither "${j.reasonable}" nor "${j.unreasonable}"`);
    // A judgement as a sentence: only the exact strings count here, to avoid reading prose.
    const n = normalize(text);
    const neg = n.lastIndexOf(j.unreasonable.toLowerCase());
    const pos = n.lastIndexOf(j.reasonable.toLowerCase());
    if (neg < 0 && pos < 0) throw new FormatError('missing_judgement', `no <${t.judgement}> in the answer`);
    reasonable = pos > neg;
    count = 1;
  }
  const rSections = sections(text, t.reflection, names);
  let reflection = rSections.length > 0 ? cleanText(rSections[rSections.length - 1]!.content) : '';
  if (EMPTY_REFLECTION.test(reflection) || /^If the .* is not reasonable/i.test(reflection)) reflection = '';
  if (reasonable) reflection = '';
  else if (reflection === '') throw new FormatError('missing_reflection', `"${j.unreasonable}" needs a <${t.reflection}> saying what is wrong`);
  return { type: 'judgement', reasonable, reflection, judgementCount: count };
}

function parseKnowledgeAnswer(text: string, kind: PromptKind): KnowledgeAnswer {
  if (text.trim() === '') throw new FormatError('empty', 'the answer is empty');
  const names = answerTagNames(kind.medium);
  const candidates = [
    knowledgeTag(kind.domain, kind.step === 'refine' ? 'refine' : 'reason', kind.medium),
    knowledgeTag(kind.domain, kind.step === 'refine' ? 'reason' : 'refine', kind.medium),
  ];
  for (const c of candidates) {
    const s = findSections(text, c);
    if (s.length > 0) return { type: 'knowledge', knowledge: requireKnowledge(s[s.length - 1]!.content, c) };
  }
  // Bare text: drop any verdict the model added, a leading heading, and markdown fences.
  let t = text;
  for (const v of findSections(t, tags(kind.medium).verdict)) t = t.replace(v.content, '');
  t = t.replace(ANY_OPEN, '').replace(new RegExp(`<\\s*/\\s*(?:${names.map(tagPattern).join('|')})\\s*>`, 'gi'), '');
  t = stripFences(t).replace(/^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:refined\s+)?(?:user preference|(?:movie|book|item) knowledge)\s*(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*\n/i, '');
  return { type: 'knowledge', knowledge: requireKnowledge(t, 'answer') };
}

/** Parses an answer to a prompt of `kind`; throws FormatError when it cannot. */
export function parseAnswer(kind: PromptKind, text: string): ParsedAnswer {
  if (kind.step === 'reflect') return parseJudgementAnswer(text, kind);
  if (kind.variant === 'construct') return parseVerdictAnswer(text, kind);
  return parseKnowledgeAnswer(text, kind);
}

// Named entry points (typed results) for the stages.
export const parseUserPreference = (text: string, medium: Medium): VerdictAnswer =>
  parseVerdictAnswer(text, { domain: 'user', step: 'reason', variant: 'construct', medium });
export const parseRefinedUserPreference = (text: string, medium: Medium): VerdictAnswer =>
  parseVerdictAnswer(text, { domain: 'user', step: 'refine', variant: 'construct', medium });
export const parseItemKnowledge = (text: string, medium: Medium): VerdictAnswer =>
  parseVerdictAnswer(text, { domain: 'item', step: 'reason', variant: 'construct', medium });
export const parseRefinedItemKnowledge = (text: string, medium: Medium): VerdictAnswer =>
  parseVerdictAnswer(text, { domain: 'item', step: 'refine', variant: 'construct', medium });
export const parseJudgement = (text: string, domain: 'user' | 'item', medium: Medium, variant: 'construct' | 'inference' = 'construct'): JudgementAnswer =>
  parseJudgementAnswer(text, { domain, step: 'reflect', variant, medium });
export const parseKnowledgeText = (text: string, domain: 'user' | 'item', medium: Medium, step: 'reason' | 'refine' = 'reason'): KnowledgeAnswer =>
  parseKnowledgeAnswer(text, { domain, step, variant: 'inference', medium });

/** What a correction turn asks for after a FormatError (a re-ask is a new request). */
export function formatHint(kind: PromptKind): string {
  const t = tags(kind.medium);
  if (kind.step === 'reflect') {
    const j = judgementStrings(kind.domain, kind.medium);
    return `<${t.judgement}>${j.reasonable} (or ${j.unreasonable})</${t.judgement}>\n<${t.reflection}>what is wrong, or nothing when reasonable</${t.reflection}>`;
  }
  if (kind.variant === 'inference') return 'the knowledge text only (about 200 words), without tags';
  const k = knowledgeTag(kind.domain, kind.step === 'refine' ? 'refine' : 'reason', kind.medium);
  const v = verdictStrings(kind.domain, kind.medium);
  return `<${k}>…</${k}>\n<${t.verdict}>${v.like} (or ${v.dislike})</${t.verdict}>`;
}

export function correctionTurn(kind: PromptKind, error: FormatError): string {
  return `Your previous answer could not be used: ${error.message}. Answer the same question again, in exactly this format:\n${formatHint(kind)}`;
}
