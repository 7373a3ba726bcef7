// The simulator's "mind": what it reads from a history (genre affinities, how generous a rater
// the user is), how noisy its reading is, how it writes that reading down, and how it reads its
// own writing back when judging or refining.
//
// The written knowledge states a categorical profile (overall lean, a stance per genre) in fixed
// phrases. The actor's verdict is computed from the profile it wrote; a judge re-derives the
// noiseless profile from the history in the prompt and compares: when the written profile implies
// another verdict than the evidence, the knowledge is flagged (usually) with corrections the
// refine step applies. So flags concentrate on noise-flipped — mostly wrong — verdicts, some
// right ones get flagged too, and refined answers are more often right, as Algorithm 1 needs.
import type { HistoryEntry } from '../prompts/history';
import type { Medium } from '../prompts/tags';
import type { Catalog, CatalogItem } from './catalog';
import type { Rng } from './rng';

export type Stance = -2 | -1 | 1 | 2;
const STANCES: Stance[] = [2, 1, -1, -2];

export interface Ctx {
  catalog: Catalog;
  threshold: number;
  medium: Medium;
}

export interface GenreStat {
  /** Mean of (rating − threshold − 0.5) over the titles with this genre. */
  aff: number;
  n: number;
}

export interface UserFacts {
  liked: number;
  total: number;
  genres: Map<string, GenreStat>;
  likedTitles: string[];
  dislikedTitles: string[];
  years: number[];
}

export interface Profile {
  lean: Stance;
  genres: Map<string, Stance>;
}

/** Titles are data: never let one produce a tag in an answer. */
export function safeTitle(t: string): string {
  return t.replace(/[<>]/g, '').replace(/\s+/g, ' ').trim();
}

export function genresOf(title: string, catalog: Catalog): string[] {
  return catalog.lookup(title)?.genres ?? [];
}

export function userFacts(history: readonly HistoryEntry[], ctx: Ctx): UserFacts {
  const genres = new Map<string, { sum: number; n: number }>();
  const likedTitles: string[] = [];
  const dislikedTitles: string[] = [];
  const years: number[] = [];
  let liked = 0;
  for (const h of history) {
    const item = ctx.catalog.lookup(h.title);
    const like = h.rating > ctx.threshold;
    if (like) {
      liked++;
      likedTitles.push(h.title);
    } else dislikedTitles.push(h.title);
    if (item?.year) years.push(item.year);
    for (const g of item?.genres ?? []) {
      const s = genres.get(g) ?? { sum: 0, n: 0 };
      s.sum += h.rating - ctx.threshold - 0.5;
      s.n++;
      genres.set(g, s);
    }
  }
  const stats = new Map<string, GenreStat>();
  for (const [g, s] of genres) stats.set(g, { aff: s.sum / s.n, n: s.n });
  return { liked, total: history.length, genres: stats, likedTitles, dislikedTitles, years };
}

function catLean(x: number): Stance {
  return x > 1 ? 2 : x >= 0 ? 1 : x < -1 ? -2 : -1;
}
function catAff(x: number): Stance {
  return x > 0.75 ? 2 : x > 0 ? 1 : x > -0.75 ? -1 : -2;
}

/** The profile a reader with reading noise `sigma` takes from the facts (sigma 0 = the evidence). */
export function profileOf(f: UserFacts, rng?: Rng, sigma = 0): Profile {
  const noise = () => (rng && sigma > 0 ? rng.normal() * sigma : 0);
  const rate = f.total > 0 ? f.liked / f.total : 0.5;
  const lean = catLean((rate - 0.5) * 4 + noise());
  const genres = new Map<string, Stance>();
  for (const [g, s] of orderedGenres(f)) genres.set(g, catAff(s.aff + noise()));
  return { lean, genres };
}

/** Genres by how often they occur, then by name: the order every text lists them in. */
export function orderedGenres(f: UserFacts): [string, GenreStat][] {
  return [...f.genres.entries()].sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0]));
}

export function userScore(p: Profile, targetGenres: readonly string[]): number {
  const v = targetGenres.map((g) => p.genres.get(g)).filter((s): s is Stance => s !== undefined);
  return p.lean + (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
}

// ------------------------------------------------------------------ user texts

const LEAN_PHRASE: Record<Stance, string> = { 2: 'strongly generous', 1: 'mildly generous', [-1]: 'mildly demanding', [-2]: 'strongly demanding' };
const STANCE_CLAUSE: Record<Stance, string> = {
  2: 'They are especially fond of',
  1: 'They respond well to',
  [-1]: 'They are lukewarm on',
  [-2]: 'They clearly dislike',
};
const STANCE_WORD: Record<Stance, string> = { 2: 'strong enthusiasm', 1: 'mild approval', [-1]: 'mild disapproval', [-2]: 'clear dislike' };

function person(medium: Medium): string {
  return medium === 'movie' ? 'viewer' : 'reader';
}
function plural(medium: Medium): string {
  return medium === 'movie' ? 'movies' : 'books';
}

function list(xs: readonly string[]): string {
  if (xs.length <= 1) return xs.join('');
  return `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

function quoteTitles(ts: readonly string[], n: number): string {
  return list(ts.slice(0, n).map((t) => `"${safeTitle(t)}"`));
}

const CLOSINGS = [
  'Taken together, recommendations for this user should follow these leanings rather than popularity alone.',
  'In short, the genre pattern above is the most reliable guide to what this user will enjoy next.',
  'Overall, titles that match the favoured genres are the safest bets, and the disliked ones are best avoided.',
  'All in all, the ratings tell a fairly consistent story about what draws this user in and what does not.',
];

export function describeUser(p: Profile, f: UserFacts, ctx: Ctx, rng: Rng): string {
  const who = person(ctx.medium);
  const parts: string[] = [];
  parts.push(
    `Working through the ${f.total} rated ${plural(ctx.medium)} step by step: ${f.liked} were liked and ${f.total - f.liked} were not, so overall this ${who} comes across as a ${LEAN_PHRASE[p.lean]} rater.`,
  );
  for (const s of STANCES) {
    const gs = [...p.genres.entries()].filter(([, v]) => v === s).map(([g]) => g);
    if (gs.length) parts.push(`${STANCE_CLAUSE[s]} ${list(gs)}.`);
  }
  if (f.likedTitles.length) parts.push(`Titles they rated highly include ${quoteTitles(f.likedTitles, 3)}.`);
  if (f.dislikedTitles.length) parts.push(`Their lowest marks went to ${quoteTitles(f.dislikedTitles, 2)}.`);
  if (f.years.length) {
    const decades = new Map<number, number>();
    for (const y of f.years) decades.set(Math.floor(y / 10) * 10, (decades.get(Math.floor(y / 10) * 10) ?? 0) + 1);
    const top = [...decades.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0];
    parts.push(`Most of what they rated dates from the ${top}s.`);
  }
  if (p.genres.size === 0) parts.push(`None of these titles is one I know well, so this reading rests on the ratings alone.`);
  parts.push(rng.pick(CLOSINGS));
  return parts.join(' ');
}

/** Longest-first matching of known genre names inside a clause (genre names may contain commas). */
function genresIn(clause: string, known: readonly string[]): string[] {
  const found: { g: string; at: number }[] = [];
  let rest = clause;
  for (const g of [...known].sort((a, b) => b.length - a.length)) {
    const i = rest.indexOf(g);
    if (i < 0) continue;
    const before = rest[i - 1];
    const after = rest[i + g.length];
    if ((before === undefined || /[\s,]/.test(before)) && (after === undefined || /[\s,.]/.test(after))) {
      found.push({ g, at: i });
      rest = rest.slice(0, i) + ' '.repeat(g.length) + rest.slice(i + g.length);
    }
  }
  return found.sort((a, b) => a.at - b.at).map((x) => x.g);
}

/** Reads the profile a user text states; undefined when the text is not one the simulator wrote. */
export function readStatedProfile(text: string, known: readonly string[]): Profile | undefined {
  const m = /comes across as an? (strongly|mildly) (generous|demanding)/i.exec(text);
  if (!m) return undefined;
  const lean = (LEAN_KEYS[`${m[1]!.toLowerCase()} ${m[2]!.toLowerCase()}`] ?? 1) as Stance;
  const genres = new Map<string, Stance>();
  for (const s of STANCES) {
    const re = new RegExp(`${STANCE_CLAUSE[s]} (.+?)\\.(?:\\s|$)`, 'g');
    for (const c of text.matchAll(re)) for (const g of genresIn(c[1]!, known)) genres.set(g, s);
  }
  return { lean, genres };
}
const LEAN_KEYS: Record<string, Stance> = { 'strongly generous': 2, 'mildly generous': 1, 'mildly demanding': -1, 'strongly demanding': -2 };
const WORD_KEYS: Record<string, Stance> = { 'strong enthusiasm': 2, 'mild approval': 1, 'mild disapproval': -1, 'clear dislike': -2 };

export interface Correction {
  lean?: Stance;
  genres: Map<string, Stance>;
}

/** The reflection on a user profile: what the evidence says where the stated profile differs. */
export function userReflection(stated: Profile | undefined, truth: Profile, f: UserFacts, ctx: Ctx, focus: readonly string[], rng: Rng): string {
  const who = person(ctx.medium);
  const parts: string[] = [];
  if (!stated || Math.sign(stated.lean) !== Math.sign(truth.lean)) {
    parts.push(
      `The history points to a ${LEAN_PHRASE[truth.lean]} ${who}${stated ? `, not a ${LEAN_PHRASE[stated.lean]} one` : ''}: ${f.liked} of ${f.total} titles were liked.`,
    );
  }
  const mismatched = [...truth.genres.entries()]
    .filter(([g, s]) => stated?.genres.get(g) !== s && (!stated || stated.genres.get(g) === undefined || Math.sign(stated.genres.get(g)!) !== Math.sign(s) || focus.includes(g)))
    .sort((a, b) => Number(focus.includes(b[0])) - Number(focus.includes(a[0])) || (f.genres.get(b[0])?.n ?? 0) - (f.genres.get(a[0])?.n ?? 0))
    .slice(0, 6);
  for (const [g, s] of mismatched) {
    const was = stated?.genres.get(g);
    parts.push(`For ${g}, the ratings suggest ${STANCE_WORD[s]}${was !== undefined ? ` rather than ${STANCE_WORD[was]}` : ', which the analysis leaves out'}.`);
  }
  if (parts.length === 0) {
    const thin = orderedGenres(f).filter(([, s]) => s.n === 1).map(([g]) => g);
    parts.push(
      thin.length
        ? `The analysis draws firm conclusions from very few titles: its reading of ${rng.pick(thin)} rests on a single rating and should be held more loosely.`
        : 'The analysis describes the genres but says too little about how strongly the ratings support each reading.',
    );
  }
  parts.push('A revised preference should follow the ratings more closely.');
  return parts.join(' ');
}

export function readUserCorrections(reflection: string): Correction {
  const out: Correction = { genres: new Map() };
  const m = /points to an? (strongly|mildly) (generous|demanding)/i.exec(reflection);
  if (m) out.lean = LEAN_KEYS[`${m[1]!.toLowerCase()} ${m[2]!.toLowerCase()}`];
  for (const c of reflection.matchAll(/For (.+?), the ratings suggest (strong enthusiasm|mild approval|mild disapproval|clear dislike)/g)) {
    out.genres.set(c[1]!, WORD_KEYS[c[2]!]!);
  }
  return out;
}

/** The refined reading: the earlier profile with the reflection's corrections, the rest re-read. */
export function refineProfile(previous: Profile | undefined, corr: Correction, truth: Profile, f: UserFacts, rng: Rng, sigma: number): Profile {
  const reread = profileOf(f, rng, sigma);
  const base = previous ?? reread;
  const genres = new Map<string, Stance>();
  for (const [g, s] of truth.genres) {
    const fixed = corr.genres.get(g);
    genres.set(g, fixed ?? (rng.next() < 0.5 ? (base.genres.get(g) ?? reread.genres.get(g)!) : reread.genres.get(g)!));
  }
  return { lean: corr.lean ?? (rng.next() < 0.5 ? base.lean : reread.lean), genres };
}

/** How far a stated profile is from the evidence, without a target (inference judging). */
export function profileDistance(stated: Profile, truth: Profile, f: UserFacts): number {
  let d = Math.sign(stated.lean) !== Math.sign(truth.lean) ? 2 : 0;
  for (const [g, s] of truth.genres) {
    const st = stated.genres.get(g);
    if ((f.genres.get(g)?.n ?? 0) >= 2 && (st === undefined || Math.sign(st) !== Math.sign(s))) d++;
  }
  return d;
}

// ------------------------------------------------------------------ items

export interface ItemFacts {
  title: string;
  item: CatalogItem | undefined;
  genres: string[];
  like: UserFacts | null;
  dislike: UserFacts | null;
}

export interface ItemView {
  appeal: Stance;
  reception: Map<string, Stance>;
}

export function itemFacts(title: string, like: readonly HistoryEntry[] | null, dislike: readonly HistoryEntry[] | null, ctx: Ctx): ItemFacts {
  const item = ctx.catalog.lookup(title);
  return {
    title,
    item,
    genres: item?.genres ?? [],
    like: like ? userFacts(like, ctx) : null,
    dislike: dislike ? userFacts(dislike, ctx) : null,
  };
}

export function itemViewOf(f: ItemFacts, rng?: Rng, sigma = 0): ItemView {
  const noise = () => (rng && sigma > 0 ? rng.normal() * sigma : 0);
  const rawAppeal = !f.like ? -2.5 : !f.dislike ? 2.5 : 0.6;
  const appeal = catLean(rawAppeal + noise());
  const reception = new Map<string, Stance>();
  for (const g of f.genres) {
    const diff = (f.like?.genres.get(g)?.aff ?? 0) - (f.dislike?.genres.get(g)?.aff ?? 0);
    const x = diff + noise();
    reception.set(g, x > 1 ? 2 : x >= 0 ? 1 : x > -1 ? -1 : -2);
  }
  return { appeal, reception };
}

/** Target user's affinity to the item, plus what the item view says about its audience. */
export function itemScore(view: ItemView, target: Profile, genres: readonly string[]): number {
  const rec = [...view.reception.values()];
  return userScore(target, genres) + 0.6 * view.appeal + 0.6 * (rec.length ? rec.reduce((a, b) => a + b, 0) / rec.length : 0);
}

const APPEAL_PHRASE: Record<Stance, string> = { 2: 'broad appeal', 1: 'fairly wide appeal', [-1]: 'a limited following', [-2]: 'a narrow following' };
const APPEAL_KEYS: Record<string, Stance> = { 'broad appeal': 2, 'fairly wide appeal': 1, 'a limited following': -1, 'a narrow following': -2 };
const RECEPTION: Record<Stance, string> = { 2: 'is warmly received', 1: 'goes down well', [-1]: 'gets a mixed response', [-2]: 'puts people off' };
const RECEPTION_KEYS: Record<string, Stance> = { 'is warmly received': 2, 'goes down well': 1, 'gets a mixed response': -1, 'puts people off': -2 };

function topGenres(f: UserFacts, n: number, positive: boolean): string[] {
  return orderedGenres(f)
    .filter(([, s]) => (positive ? s.aff > 0 : s.aff <= 0))
    .slice(0, n)
    .map(([g]) => g);
}

export function describeItem(view: ItemView, f: ItemFacts, ctx: Ctx, rng: Rng): string {
  const who = person(ctx.medium);
  const noun = ctx.medium;
  const parts: string[] = [];
  const year = f.item?.year ? `${f.item.year} ` : '';
  const kind = f.genres.length ? `${list(f.genres)} ${noun}` : noun;
  parts.push(`Step by step: "${safeTitle(f.title)}" is a ${year}${kind}${f.item ? '' : ' I know little about beyond the two rating histories shown'}.`);
  if (f.genres.length) {
    parts.push(
      ctx.medium === 'movie'
        ? `Its attributes follow its genres: the tone, pacing and themes typical of ${list(f.genres)} shape what it offers.`
        : `Its attributes follow its category: the style, themes and setting typical of ${list(f.genres)} shape what it offers.`,
    );
  }
  parts.push(`Among ${who}s it has ${APPEAL_PHRASE[view.appeal]}.`);
  for (const [g, s] of view.reception) parts.push(`Its ${g} side ${RECEPTION[s]}.`);
  if (f.like) {
    const fav = topGenres(f.like, 3, true);
    parts.push(`The ${who} who liked it ${fav.length ? `favours ${list(fav)}` : 'rates sparingly overall'} and liked ${f.like.liked} of ${f.like.total} titles shown.`);
  } else parts.push(`No ${who} in the data liked it.`);
  if (f.dislike) {
    const off = topGenres(f.dislike, 3, false);
    parts.push(`The ${who} who disliked it ${off.length ? `is cool on ${list(off)}` : 'is a generous rater otherwise'} and liked ${f.dislike.liked} of ${f.dislike.total} titles shown.`);
  } else parts.push(`No ${who} in the data disliked it.`);
  parts.push(
    rng.pick([
      `So it suits ${who}s who share the liking ${who}'s tastes and is a weaker match for the other.`,
      `Fans of its core genres are its natural audience; others may find it less engaging.`,
      `Its audience is best described by the genres it combines and the contrast between these two ${who}s.`,
    ]),
  );
  return parts.join(' ');
}

export function readStatedItemView(text: string, genres: readonly string[]): ItemView | undefined {
  const m = /it has (broad appeal|fairly wide appeal|a limited following|a narrow following)/i.exec(text);
  if (!m) return undefined;
  const reception = new Map<string, Stance>();
  for (const c of text.matchAll(/Its (.+?) side (is warmly received|goes down well|gets a mixed response|puts people off)/g)) {
    if (genres.includes(c[1]!)) reception.set(c[1]!, RECEPTION_KEYS[c[2]!]!);
  }
  return { appeal: APPEAL_KEYS[m[1]!.toLowerCase()]!, reception };
}

export interface ItemCorrection {
  appeal?: Stance;
  reception: Map<string, Stance>;
}

export function itemReflection(stated: ItemView | undefined, truth: ItemView, f: ItemFacts, ctx: Ctx, rng: Rng): string {
  const parts: string[] = [];
  if (!stated || stated.appeal !== truth.appeal) {
    parts.push(`Its appeal is better described as ${APPEAL_PHRASE[truth.appeal]}${stated ? ` than ${APPEAL_PHRASE[stated.appeal]}` : ''}, given who liked and disliked it.`);
  }
  for (const [g, s] of truth.reception) {
    const was = stated?.reception.get(g);
    if (was === undefined || Math.sign(was) !== Math.sign(s)) parts.push(`Its ${g} side actually ${RECEPTION[s]}.`);
  }
  if (parts.length === 0) {
    parts.push(
      f.genres.length
        ? `The knowledge leans on the genre label of ${rng.pick(f.genres)} without checking it against the two ${person(ctx.medium)}s' ratings.`
        : 'The knowledge says too little about who the audience is.',
    );
  }
  parts.push('A revised version should tie the audience description to the rating histories.');
  return parts.join(' ');
}

export function readItemCorrections(reflection: string): ItemCorrection {
  const out: ItemCorrection = { reception: new Map() };
  const m = /appeal is better described as (broad appeal|fairly wide appeal|a limited following|a narrow following)/i.exec(reflection);
  if (m) out.appeal = APPEAL_KEYS[m[1]!.toLowerCase()];
  for (const c of reflection.matchAll(/Its (.+?) side actually (is warmly received|goes down well|gets a mixed response|puts people off)/g)) {
    out.reception.set(c[1]!, RECEPTION_KEYS[c[2]!]!);
  }
  return out;
}

export function refineItemView(previous: ItemView | undefined, corr: ItemCorrection, f: ItemFacts, rng: Rng, sigma: number): ItemView {
  const reread = itemViewOf(f, rng, sigma);
  const base = previous ?? reread;
  const reception = new Map<string, Stance>();
  for (const [g, s] of reread.reception) reception.set(g, corr.reception.get(g) ?? (rng.next() < 0.5 ? (base.reception.get(g) ?? s) : s));
  return { appeal: corr.appeal ?? (rng.next() < 0.5 ? base.appeal : reread.appeal), reception };
}

export function itemViewDistance(stated: ItemView, truth: ItemView): number {
  let d = Math.sign(stated.appeal) !== Math.sign(truth.appeal) ? 2 : 0;
  for (const [g, s] of truth.reception) {
    const st = stated.reception.get(g);
    if (st === undefined || Math.sign(st) !== Math.sign(s)) d++;
  }
  return d;
}
