// A construction sample rendered for the prompts: titles and ratings of training-part interactions
// only, with provenance (which user and positions each history came from) so tests can check the
// no-leakage rule on the output itself.
import { z } from 'zod';
import type { DatasetMeta } from '../data/meta';
import { itemSampleUsers, type ItemRaterIndex, type Sequences } from '../data/history';
import type { ItemPromptSpec, UserPromptSpec } from '../prompts/builders';
import type { HistoryEntry } from '../prompts/history';
import type { Medium } from '../prompts/tags';
import type { PlanEntry } from './plan';

const Entry = z.object({ title: z.string(), rating: z.number() }).strict();
const Source = z.object({ user: z.number().int(), positions: z.array(z.number().int()) }).strict();

/** Everything a construction inference needs besides the teacher (also the child's local activity result). */
export const ConstructSampleSchema = z
  .object({
    domain: z.enum(['user', 'item']),
    entityId: z.string(),
    index: z.number().int(),
    medium: z.enum(['movie', 'book']),
    likeThreshold: z.number(),
    /** The target's rating > threshold. */
    label: z.boolean(),
    /** The target's display title (user: the target item; item: the item itself). */
    target: z.string(),
    /** user: the user's history before the target; item: the target user's. */
    history: z.array(Entry),
    likeHistory: z.array(Entry).nullable().optional(),
    dislikeHistory: z.array(Entry).nullable().optional(),
    provenance: z
      .object({
        target: z.object({ user: z.number().int(), pos: z.number().int() }).strict(),
        history: Source,
        like: Source.nullable().optional(),
        dislike: Source.nullable().optional(),
      })
      .strict(),
  })
  .strict();
export type ConstructSample = z.infer<typeof ConstructSampleSchema>;

export function mediumOf(meta: Pick<DatasetMeta, 'kind'>): Medium {
  return meta.kind === 'amazon-books' ? 'book' : 'movie';
}

/** "Heat (1995)": the title with its year unless it already ends with one. */
export function displayTitle(meta: DatasetMeta, item: number): string {
  const it = meta.items[item - 1];
  if (!it) throw new RangeError(`item ${item} is not in the dataset (1..${meta.items.length})`);
  return it.year === null || /\(\d{4}\)\s*$/.test(it.title) ? it.title : `${it.title} (${it.year})`;
}

function historyAt(meta: DatasetMeta, seq: Sequences, user: number, positions: number[]): HistoryEntry[] {
  const base = seq.offsets[user]!;
  return positions.map((p) => {
    if (p >= seq.trainEnd[user]!) throw new Error(`construct: position ${p} of user ${user} is outside the training part (train_end ${seq.trainEnd[user]})`);
    return { title: displayTitle(meta, seq.item[base + p]!), rating: seq.rating[base + p]! };
  });
}

function before(pos: number, n: number): number[] {
  const from = Math.max(0, pos - n);
  return Array.from({ length: pos - from }, (_, j) => from + j);
}

export function buildSample(meta: DatasetMeta, seq: Sequences, raters: ItemRaterIndex | undefined, domain: 'user' | 'item', entry: PlanEntry): ConstructSample {
  const { user, pos } = entry;
  if (pos >= seq.trainEnd[user]!) throw new Error(`construct plan for ${domain} ${entry.entityId}: target position ${pos} is outside user ${user}'s training part`);
  const base = seq.offsets[user]!;
  const targetItem = seq.item[base + pos]!;
  const threshold = meta.labelThreshold;
  const histPositions = before(pos, meta.historyLength);
  const common = {
    domain,
    entityId: entry.entityId,
    index: entry.index,
    medium: mediumOf(meta),
    likeThreshold: threshold,
    label: seq.rating[base + pos]! > threshold,
    target: displayTitle(meta, targetItem),
    history: historyAt(meta, seq, user, histPositions),
  };
  if (domain === 'user') {
    return { ...common, provenance: { target: { user, pos }, history: { user, positions: histPositions } } };
  }
  if (targetItem !== entry.index) throw new Error(`construct plan for item ${entry.entityId}: position ${pos} of user ${user} holds item ${targetItem}, not ${entry.index}`);
  if (!raters) throw new Error('construct: item samples need the item rater index');
  const sides = itemSampleUsers(seq, raters, entry.index, threshold, meta.historyLength);
  const side = (s: typeof sides.liking) => (s ? { user: s.user, positions: s.history.map((h) => h.pos) } : null);
  const like = side(sides.liking);
  const dislike = side(sides.disliking);
  return {
    ...common,
    likeHistory: like ? historyAt(meta, seq, like.user, like.positions) : null,
    dislikeHistory: dislike ? historyAt(meta, seq, dislike.user, dislike.positions) : null,
    provenance: { target: { user, pos }, history: { user, positions: histPositions }, like, dislike },
  };
}

/** The prompt spec of one step; `variant` construct shows the target, inference does not. */
export function promptSpec(
  s: ConstructSample,
  step: 'reason' | 'reflect' | 'refine',
  variant: 'construct' | 'inference',
  extra: { previous?: string; reflection?: string } = {},
): UserPromptSpec | ItemPromptSpec {
  const k = { step, variant, medium: s.medium, likeThreshold: s.likeThreshold, ...extra };
  if (s.domain === 'user') {
    return { domain: 'user', ...k, history: s.history, ...(variant === 'construct' ? { target: s.target } : {}) };
  }
  return {
    domain: 'item',
    ...k,
    title: s.target,
    likeHistory: s.likeHistory ?? null,
    dislikeHistory: s.dislikeHistory ?? null,
    ...(variant === 'construct' ? { targetHistory: s.history } : {}),
  };
}
