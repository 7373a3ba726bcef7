// Parsing every R4ec answer format into typed results, or a typed FormatError.
//
// Only the assistant's answer is ever parsed — never the prompt — and within the answer only its
// own structure counts: the top-level sections (a section runs to its closing tag, so a tag inside
// it is content), after the knowledge block for a verdict. What a model reproduces from the prompt
// is data and never supplies a verdict or judgement: quoted text ("…", “…”), history entries in our
// JSON form or the authors' Python form, our tags as the prompt shows them in titles (‹…›), echoed
// input sections (<User History>, <Target Movie Name>, …), a reasoning block, and anything after
// the model's turn ends (a chat-template special token). Statements that disagree are a format
// error (re-asked), never "the last one wins".
//
// Tolerated: tags in another case or spacing (`< final_verdict >`), a missing closing tag, the
// answer wrapped in markdown fences or prose, markdown headings instead of tags, the verdict written
// as a sentence, and the same verdict stated twice (`verdictCount` says how many times).
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
import { answerTurn } from '../prompts/special-tokens';

export type FormatErrorCode =
  | 'empty'
  | 'missing_knowledge'
  | 'missing_verdict'
  | 'ambiguous_verdict'
  | 'conflicting_verdict'
  | 'missing_judgement'
  | 'ambiguous_judgement'
  | 'conflicting_judgement'
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
  /** How many verdict statements the answer held (all agreeing: a disagreement is a FormatError). */
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

/** Reads a verdict from free text (undefined: none; disagreeing statements: a FormatError); for tests and self-checks. */
export function readVerdictText(s: string): { like: boolean; count: number } | undefined {
  const r = agreeing(statements(s, NEG_VERDICT, POS_VERDICT), () => new FormatError('conflicting_verdict', 'the text says both that the user will and will not like the target'));
  return r && { like: r.value, count: r.count };
}

// ---------------------------------------------------------------- the answer's own structure

/** Quoted text on one line, JSON-escapes allowed: a cited title or a JSON history entry. */
const DOUBLE_QUOTED = /"(?:[^"\\\n]|\\.)*"/g;
const CURLY_QUOTED = /“[^”\n]*”/g;
/** An entry of the authors' Python-form history: `['TITLE', 4]`, apostrophes inside TITLE. */
const REPR_ENTRY = /\[\s*'(?:[^'\n]|'(?!\s*,\s*-?\d+(?:\.\d+)?\s*\]))*'\s*,\s*-?\d+(?:\.\d+)?\s*\]/g;
/** Our tags as a prompt shows them inside data (neutralised), with what they enclose. */
const NEUTRAL_PAIR = /‹\s*([^›/\n][^›\n]*?)\s*›[^\n]*?‹\s*\/\s*\1\s*›/g;
const NEUTRAL_TAG = /‹[^›\n]*›/g;

/** [start, end) ranges of `text` that reproduce data: nothing in them is the answer's structure. */
function dataSpans(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (const re of [DOUBLE_QUOTED, CURLY_QUOTED, REPR_ENTRY, NEUTRAL_PAIR, NEUTRAL_TAG]) {
    for (const m of text.matchAll(re)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

function maskOf(length: number, spans: readonly [number, number][]): Uint8Array {
  const mask = new Uint8Array(length);
  for (const [a, b] of spans) mask.fill(1, a, b);
  return mask;
}

/** `text` with the masked ranges blanked (same offsets). */
function blank(text: string, mask: Uint8Array): string {
  let out = '';
  for (let i = 0; i < text.length; i++) out += mask[i] ? ' ' : text[i];
  return out;
}

const TAG_KEY = new Map(allTagNames().map((n) => [tagKey(n), n]));
const ANY_TAG = new RegExp(`<\\s*(/)?\\s*(${allTagNames().map(tagPattern).join('|')})\\s*>`, 'gi');

function tagKey(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, ' ').trim();
}

interface TagToken {
  name: string;
  close: boolean;
  start: number;
  end: number;
}

interface Structure {
  text: string;
  /** 1 where the text reproduces data (quotes, history entries, neutralised tags). */
  mask: Uint8Array;
  /** The top-level sections, in order (named by their canonical tag name). */
  top: (Section & { name: string })[];
}

/**
 * The answer's top level: a section opened outside data runs to its own closing tag (whatever it
 * encloses is its content) or, when never closed, to the next opening tag.
 */
function structure(text: string): Structure {
  const mask = maskOf(text.length, dataSpans(text));
  const toks: TagToken[] = [];
  for (const m of text.matchAll(ANY_TAG)) {
    if (mask[m.index]) continue;
    const name = TAG_KEY.get(tagKey(m[2]!));
    if (name) toks.push({ name, close: m[1] !== undefined, start: m.index, end: m.index + m[0].length });
  }
  const top: Structure['top'] = [];
  let i = 0;
  while (i < toks.length) {
    const t = toks[i]!;
    if (t.close) {
      i++;
      continue;
    }
    const j = toks.findIndex((k, n) => n > i && k.close && k.name === t.name);
    if (j >= 0) {
      top.push({ name: t.name, content: text.slice(t.end, toks[j]!.start), start: t.start, end: toks[j]!.end, closed: true });
      i = j + 1;
      continue;
    }
    let next = i + 1;
    while (next < toks.length && toks[next]!.close) next++;
    const end = next < toks.length ? toks[next]!.start : text.length;
    top.push({ name: t.name, content: text.slice(t.end, end), start: t.start, end, closed: false });
    i = next;
  }
  return { text, mask, top };
}

/** Top-level sections named `name`; without any tag of that name, markdown-heading sections outside data. */
function ownSections(st: Structure, name: string, siblings: string[]): Section[] {
  const tagged = st.top.filter((s) => s.name === name);
  if (tagged.length > 0) return tagged;
  const blanked = blank(st.text, st.mask);
  return findHeadingSections(blanked, name, siblings)
    .filter((h) => !st.top.some((s) => h.start >= s.start && h.start < s.end))
    .map((h) => ({ ...h, content: st.text.slice(h.end - h.content.length, h.end) }));
}

/** Top-level text outside every section and outside data (blanked, same offsets), from `from` on. */
function prose(st: Structure, from: number, keep?: (quoted: string) => boolean): string {
  const mask = st.mask.slice();
  if (keep) for (const m of st.text.matchAll(DOUBLE_QUOTED)) if (keep(m[0])) mask.fill(0, m.index, m.index + m[0].length);
  for (const s of st.top) mask.fill(1, s.start, s.end);
  mask.fill(1, 0, Math.min(from, mask.length));
  return blank(st.text, mask);
}

/** The answer's statements in a section: those outside quotes, else (a quoted answer) those inside. */
function sectionStatements(content: string, neg: RegExp, pos: RegExp): Statement[] {
  const all = statements(content, neg, pos);
  const outside = statements(blank(content, maskOf(content.length, dataSpans(content))), neg, pos);
  return outside.length > 0 ? outside : all;
}

function agreeing(st: Statement[], conflict: () => FormatError): { value: boolean; count: number } | undefined {
  if (st.length === 0) return undefined;
  if (st.some((x) => x.value !== st[0]!.value)) throw conflict();
  return { value: st[0]!.value, count: st.length };
}

// ---------------------------------------------------------------- answer parsers

function answerTagNames(medium: Medium): string[] {
  const t = tags(medium);
  return [t.userPreference, t.refinedUserPreference, t.knowledge, t.refinedKnowledge, t.verdict, t.judgement, t.reflection];
}

/** The answer as the model's turn holds it; empty is a FormatError. */
function ownTurn(text: string): string {
  const t = answerTurn(text);
  if (t.trim() === '') throw new FormatError('empty', 'the answer is empty');
  return t;
}

function parseVerdictAnswer(raw: string, kind: PromptKind): VerdictAnswer {
  const text = ownTurn(raw);
  const st = structure(text);
  const names = answerTagNames(kind.medium);
  const kTag = knowledgeTag(kind.domain, kind.step === 'refine' ? 'refine' : 'reason', kind.medium);
  const verdictTag = tags(kind.medium).verdict;
  const v = verdictStrings(kind.domain, kind.medium);
  // A refined answer may reuse the first-step tag, and a first answer may say "Refined": accept both.
  const altTag = knowledgeTag(kind.domain, kind.step === 'refine' ? 'reason' : 'refine', kind.medium);
  let kSections = ownSections(st, kTag, names);
  if (kSections.length === 0) kSections = st.top.filter((s) => s.name === altTag);
  // The verdict follows the knowledge block: before it, the answer is still reading the prompt back.
  const after = kSections[0]?.end ?? 0;
  const allVerdicts = ownSections(st, verdictTag, names);
  const vSections = allVerdicts.filter((s) => s.start >= after);

  const conflict = () => new FormatError('conflicting_verdict', `the answer says both "${v.like}" and "${v.dislike}"`);
  const found: Statement[] = [];
  for (const s of vSections) found.push(...sectionStatements(s.content, NEG_VERDICT, POS_VERDICT));
  let verdict = agreeing(found, conflict);
  if (verdict === undefined) {
    // The verdict as a sentence after the knowledge ("…so the user will not like the target movie."),
    // read from the answer's own prose; a quoted verdict string counts, a quoted title does not.
    const exact = new Set([v.like, v.dislike].map((x) => normalize(x).trim()));
    const own = prose(st, after, (q) => exact.has(normalize(q.slice(1, -1)).trim().replace(/[.!]$/, '')));
    const sentences = own.split(/(?<=[.!?\n])/).filter((x) => /\btarget\b/i.test(x));
    const fromProse: Statement[] = [];
    for (const x of sentences) fromProse.push(...statements(x, NEG_VERDICT, POS_VERDICT));
    verdict = agreeing(fromProse, conflict);
  }
  if (verdict === undefined) {
    if (vSections.length > 0) throw new FormatError('ambiguous_verdict', `the ${verdictTag} section does not say "${v.like}" or "${v.dislike}"`);
    if (allVerdicts.length > 0) throw new FormatError('missing_verdict', `no <${verdictTag}> after the <${kTag}> section`);
    throw new FormatError('missing_verdict', `no <${verdictTag}> in the answer`);
  }
  let knowledgeRaw: string | undefined = kSections[0]?.content;
  if (knowledgeRaw === undefined) {
    // Untagged knowledge before the verdict: accepted when substantial (echoed input sections left out).
    const firstV = vSections[0]?.start ?? text.length;
    const mask = new Uint8Array(text.length);
    for (const s of st.top) if (s.start < firstV) mask.fill(1, s.start, s.end);
    knowledgeRaw = blank(text, mask).slice(0, firstV);
    if (wordCount(cleanText(knowledgeRaw)) < 20) throw new FormatError('missing_knowledge', `no <${kTag}> in the answer`);
  }
  return { type: 'verdict', knowledge: requireKnowledge(knowledgeRaw, kTag), like: verdict.value, verdictCount: verdict.count };
}

const EMPTY_REFLECTION = /^(?:nothing(?: here)?|none|n\/?a|no reflection(?: needed)?|empty|-+|\(empty\)|\(none\))?[.!]?$/i;

function parseJudgementAnswer(raw: string, kind: PromptKind): JudgementAnswer {
  const text = ownTurn(raw);
  const st = structure(text);
  const names = answerTagNames(kind.medium);
  const t = tags(kind.medium);
  const j = judgementStrings(kind.domain, kind.medium);
  const conflict = () => new FormatError('conflicting_judgement', `the answer says both "${j.reasonable}" and "${j.unreasonable}"`);
  const jSections = ownSections(st, t.judgement, names);
  const found: Statement[] = [];
  for (const s of jSections) found.push(...sectionStatements(s.content, NEG_JUDGE, POS_JUDGE));
  let judgement = agreeing(found, conflict);
  if (judgement === undefined) {
    if (jSections.length > 0) throw new FormatError('ambiguous_judgement', `the ${t.judgement} section says neither "${j.reasonable}" nor "${j.unreasonable}"`);
    // A judgement as a sentence of the answer's own: only the exact strings count here, to avoid reading prose.
    const n = normalize(prose(st, 0));
    const neg = n.includes(normalize(j.unreasonable));
    const pos = n.includes(normalize(j.reasonable));
    if (neg && pos) throw conflict();
    if (!neg && !pos) throw new FormatError('missing_judgement', `no <${t.judgement}> in the answer`);
    judgement = { value: pos, count: 1 };
  }
  const reasonable = judgement.value;
  const rSections = ownSections(st, t.reflection, names);
  let reflection = rSections.length > 0 ? cleanText(rSections[rSections.length - 1]!.content) : '';
  if (EMPTY_REFLECTION.test(reflection) || /^If the .* is not reasonable/i.test(reflection)) reflection = '';
  if (reasonable) reflection = '';
  else if (reflection === '') throw new FormatError('missing_reflection', `"${j.unreasonable}" needs a <${t.reflection}> saying what is wrong`);
  return { type: 'judgement', reasonable, reflection, judgementCount: judgement.count };
}

function parseKnowledgeAnswer(raw: string, kind: PromptKind): KnowledgeAnswer {
  const text = ownTurn(raw);
  const st = structure(text);
  const names = answerTagNames(kind.medium);
  const candidates = [
    knowledgeTag(kind.domain, kind.step === 'refine' ? 'refine' : 'reason', kind.medium),
    knowledgeTag(kind.domain, kind.step === 'refine' ? 'reason' : 'refine', kind.medium),
  ];
  for (const c of candidates) {
    const s = st.top.filter((x) => x.name === c);
    if (s.length > 0) return { type: 'knowledge', knowledge: requireKnowledge(s[s.length - 1]!.content, c) };
  }
  // Bare text: drop any verdict the model added and any input section it echoed, a leading
  // heading, stray tags and markdown fences.
  let t = '';
  let at = 0;
  for (const s of st.top) {
    t += text.slice(at, s.start);
    at = s.end;
  }
  t += text.slice(at);
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
