// Small catalog and prompt specs for the LLM-layer and simulator tests (no shared data needed).
import type { PromptSpec } from '../../core/prompts/builders';
import type { HistoryEntry } from '../../core/prompts/history';
import type { PromptKind } from '../../core/prompts/tags';
import type { CatalogItem } from '../../core/sim/catalog';

export const CATALOG: CatalogItem[] = [
  { id: '1', title: 'Heat (1995)', year: 1995, genres: ['Action', 'Crime', 'Thriller'] },
  { id: '2', title: 'Casino (1995)', year: 1995, genres: ['Drama', 'Thriller'] },
  { id: '3', title: 'Toy Story (1995)', year: 1995, genres: ["Animation", "Children's", 'Comedy'] },
  { id: '4', title: 'Seven (Se7en) (1995)', year: 1995, genres: ['Crime', 'Thriller'] },
  { id: '5', title: 'Clueless (1995)', year: 1995, genres: ['Comedy', 'Romance'] },
  { id: '6', title: 'Babe (1995)', year: 1995, genres: ["Children's", 'Comedy', 'Drama'] },
  { id: '7', title: 'Braveheart (1995)', year: 1995, genres: ['Action', 'Drama', 'War'] },
  { id: '8', title: 'Jumanji (1995)', year: 1995, genres: ['Adventure', "Children's", 'Fantasy'] },
  { id: '9', title: "Ender's Game", year: 1985, genres: ['Science Fiction & Fantasy'] },
  { id: '10', title: 'Dune', year: 1965, genres: ['Science Fiction & Fantasy'] },
  { id: '11', title: 'Gone Girl', year: 2012, genres: ['Mystery, Thriller & Suspense'] },
  { id: '12', title: 'Emma', year: 1815, genres: ['Literature & Fiction'] },
];

export const MOVIE_HISTORY: HistoryEntry[] = [
  { title: 'Heat (1995)', rating: 5 },
  { title: 'Seven (Se7en) (1995)', rating: 5 },
  { title: 'Toy Story (1995)', rating: 2 },
  { title: 'Clueless (1995)', rating: 1 },
  { title: 'Braveheart (1995)', rating: 4 },
  { title: 'Babe (1995)', rating: 2 },
];

export const BOOK_HISTORY: HistoryEntry[] = [
  { title: "Ender's Game", rating: 5 },
  { title: 'Emma', rating: 3 },
  { title: 'Gone Girl', rating: 4 },
];

/** A valid spec for any prompt kind, with placeholder earlier answers for reflect/refine. */
export function specFor(k: PromptKind, previous = 'The user enjoys tense crime stories and dislikes light comedies, judging from the ratings.', reflection = 'The analysis overlooks the war drama the user rated well.'): PromptSpec {
  const movie = k.medium === 'movie';
  const history = movie ? MOVIE_HISTORY : BOOK_HISTORY;
  const common = {
    step: k.step,
    variant: k.variant,
    medium: k.medium,
    ...(k.step !== 'reason' ? { previous } : {}),
    ...(k.step === 'refine' ? { reflection } : {}),
  };
  if (k.domain === 'user') {
    return { domain: 'user', ...common, history, ...(k.variant === 'construct' ? { target: movie ? 'Casino (1995)' : 'Dune' } : {}) };
  }
  return {
    domain: 'item',
    ...common,
    title: movie ? 'Casino (1995)' : 'Dune',
    likeHistory: history,
    dislikeHistory: movie ? [{ title: 'Heat (1995)', rating: 2 }, { title: 'Jumanji (1995)', rating: 5 }] : null,
    ...(k.variant === 'construct' ? { targetHistory: history.slice(0, 3) } : {}),
  };
}

export const ALL_KINDS: PromptKind[] = (() => {
  const out: PromptKind[] = [];
  for (const domain of ['user', 'item'] as const)
    for (const step of ['reason', 'reflect', 'refine'] as const)
      for (const variant of ['construct', 'inference'] as const) for (const medium of ['movie', 'book'] as const) out.push({ domain, step, variant, medium });
  return out;
})();
