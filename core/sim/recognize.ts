// Recognising which R4ec prompt the simulator was sent, from the prompt's structure alone: which
// input sections it has (ours and the authors' wording both work) and which answer tags its format
// section asks for. Histories are read back with the same reader the project uses.
import type { Domain } from '../../config/names';
import { findSections } from '../llm/parse';
import type { ChatMessage } from '../llm/types';
import { readHistory, type HistoryEntry } from '../prompts/history';
import { LIKE_THRESHOLD, type Medium, type PromptKind } from '../prompts/tags';

export interface RecognizedPrompt {
  kind: PromptKind;
  threshold: number;
  /** User prompts: the user's history. */
  history: HistoryEntry[];
  /** User construct: the target item's title. Item prompts: the item's title. */
  target?: string;
  /** Item prompts: null = "(no such user)". */
  likeHistory?: HistoryEntry[] | null;
  dislikeHistory?: HistoryEntry[] | null;
  targetHistory?: HistoryEntry[];
  previous?: string;
  reflection?: string;
}

const DATA_SECTIONS = [
  'User History',
  'Like User History',
  'Dislike User History',
  'Target User History',
  'Previous User Preference',
  'Previous Movie Knowledge',
  'Previous Book Knowledge',
  'Reflection',
];

const FORMAT_MARKERS = /answer in exactly this format:|please strictly follow the following format:?/gi;

function lastMarker(text: string): number {
  let idx = -1;
  for (const m of text.matchAll(FORMAT_MARKERS)) idx = m.index;
  return idx;
}

function section(text: string, ...names: string[]): string | undefined {
  for (const n of names) {
    const s = findSections(text, n);
    if (s.length > 0) return s[0]!.content;
  }
  return undefined;
}

function historyOf(text: string | undefined): HistoryEntry[] | null | undefined {
  if (text === undefined) return undefined;
  try {
    return readHistory(text);
  } catch {
    return [];
  }
}

/** The task prompt: the first user turn (later turns are correction re-asks of the same task). */
export function taskText(messages: readonly ChatMessage[]): string {
  return messages.find((m) => m.role === 'user')?.content ?? '';
}

export function recognizePrompt(messages: readonly ChatMessage[]): RecognizedPrompt | undefined {
  const text = taskText(messages);
  const cut = lastMarker(text);
  const inputs = cut >= 0 ? text.slice(0, cut) : text;
  const format = cut >= 0 ? text.slice(cut) : '';

  const like = section(inputs, 'Like User History');
  const userHist = section(inputs, 'User History');
  const domain: Domain | undefined = like !== undefined ? 'item' : userHist !== undefined ? 'user' : undefined;
  if (!domain) return undefined;

  const movieName = section(inputs, 'Target Movie Name');
  const bookName = section(inputs, 'Target Book Name');
  let medium: Medium;
  if (movieName !== undefined) medium = 'movie';
  else if (bookName !== undefined) medium = 'book';
  else {
    // Inference user prompts name no target: count the words outside the sections.
    // Data sections (titles, earlier answers) are left out: they may mention either medium.
    let prose = inputs;
    for (const n of DATA_SECTIONS) for (const sec of findSections(prose, n).reverse()) prose = prose.replace(sec.content, ' ');
    const movies = (prose.match(/\bmovies?\b/gi) ?? []).length;
    const books = (prose.match(/\bbooks?\b/gi) ?? []).length;
    medium = books > movies ? 'book' : 'movie';
  }
  const target = movieName ?? bookName;

  const previous = section(inputs, 'Previous User Preference', 'Previous Movie Knowledge', 'Previous Book Knowledge');
  const reflectionIn = section(inputs, 'Reflection');
  const asksJudgement = findSections(format, 'Final Judgement').length > 0;
  const step = asksJudgement ? 'reflect' : previous !== undefined && reflectionIn !== undefined ? 'refine' : 'reason';

  const thr = /RATING\s+(?:above|greater than|over)\s+(\d+(?:\.\d+)?)/i.exec(inputs);
  const threshold = thr ? Number(thr[1]) : LIKE_THRESHOLD[medium];

  if (domain === 'user') {
    const variant = target !== undefined ? 'construct' : 'inference';
    return {
      kind: { domain, step, variant, medium },
      threshold,
      history: historyOf(userHist) ?? [],
      ...(target !== undefined ? { target: target.trim() } : {}),
      ...(previous !== undefined ? { previous: previous.trim() } : {}),
      ...(step === 'refine' && reflectionIn !== undefined ? { reflection: reflectionIn.trim() } : {}),
    };
  }
  const targetUser = section(inputs, 'Target User History');
  const variant = targetUser !== undefined ? 'construct' : 'inference';
  const targetHistory = historyOf(targetUser);
  return {
    kind: { domain, step, variant, medium },
    threshold,
    history: [],
    ...(target !== undefined ? { target: target.trim() } : {}),
    likeHistory: historyOf(like) ?? null,
    dislikeHistory: historyOf(section(inputs, 'Dislike User History')) ?? null,
    ...(targetHistory ? { targetHistory } : {}),
    ...(previous !== undefined ? { previous: previous.trim() } : {}),
    ...(step === 'refine' && reflectionIn !== undefined ? { reflection: reflectionIn.trim() } : {}),
  };
}
