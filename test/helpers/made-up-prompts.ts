// Made-up R4ec prompts for every prompt kind (construct reason/reflect/refine and the inference
// actor and reflection prompts, users and items) on small invented histories: no dataset needed,
// nothing non-redistributable. scripts/record-model-answers.ts and bench/format-compliance.ts ask
// a model these; the same seed gives the same prompts.
import type { PromptSpec } from '../../core/prompts/builders';
import type { PromptKind } from '../../core/prompts/tags';

// Made-up titles, years and a rating rule per "user", so histories look like real ones.
const TITLES = [
  'The Glass Orchard (1994)', 'Midnight at Harrow Lane (1987)', 'Seven Paper Boats (2001)', 'Iron Meridian (1999)', 'A Quiet Season (1992)',
  'The Last Lamplighter (1978)', 'Copper Skies (2003)', 'Laughing Gas Express (1996)', 'Under the Salt Flats (1985)', 'Hollow Crown Hotel (1998)',
  'The Cartographer\'s Son (1990)', 'Neon Tide (2000)', 'Paper Lions (1983)', 'Winter Circus (1995)', 'Blue Harbour Blues (1989)',
  'Signal from Vega (1997)', 'The Orchid Thief\'s Daughter (2002)', 'Rustbelt Requiem (1993)', 'Goodbye, Mr. Pelican (1986)', 'Stormbreak (1999)',
];

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function history(r: () => number, n = 10) {
  const picked = [...TITLES].sort(() => r() - 0.5).slice(0, n);
  return picked.map((title) => ({ title, rating: 1 + Math.floor(r() * 5) }));
}

const PREVIOUS = {
  user: 'The user enjoys slow, character-driven dramas and thoughtful science fiction, rates broad comedies low, and returns to films about family and memory; recent ratings show less patience for long runtimes.',
  item: 'A melancholy drama about a family orchard across three generations, praised for its photography and quiet performances; liked by viewers of reflective dramas, disliked by those who want a brisk plot.',
};
const REFLECTION = 'The analysis ignores the low ratings of the two recent dramas and overstates the taste for science fiction, which rests on a single rating.';

export function spec(kind: PromptKind, r: () => number): PromptSpec {
  const extra = {
    ...(kind.step !== 'reason' ? { previous: PREVIOUS[kind.domain] } : {}),
    ...(kind.step === 'refine' ? { reflection: REFLECTION } : {}),
  };
  const common = { step: kind.step, variant: kind.variant, medium: kind.medium, ...extra };
  if (kind.domain === 'user') {
    return { domain: 'user', ...common, history: history(r), ...(kind.variant === 'construct' ? { target: TITLES[Math.floor(r() * TITLES.length)]! } : {}) };
  }
  return {
    domain: 'item',
    ...common,
    title: TITLES[Math.floor(r() * TITLES.length)]!,
    likeHistory: history(r),
    dislikeHistory: r() < 0.2 ? null : history(r),
    ...(kind.variant === 'construct' ? { targetHistory: history(r) } : {}),
  };
}

export const KINDS: PromptKind[] = [];
for (const domain of ['user', 'item'] as const) {
  for (const step of ['reason', 'reflect', 'refine'] as const) KINDS.push({ domain, step, variant: 'construct', medium: 'movie' });
  for (const step of ['reason', 'reflect', 'refine'] as const) KINDS.push({ domain, step, variant: 'inference', medium: 'movie' });
}
