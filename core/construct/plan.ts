// Which entities construction samples, and which one training-split sample each (docs/DESIGN.md,
// "construct"). Deterministic for a seed and independent of the order entities are listed in:
// an entity's rank is a hash of (seed, domain, raw id), so adding entities does not reshuffle the
// others. Only training-part positions (< train_end) are ever chosen.
import { z } from 'zod';
import type { Domain } from '../../config/names';
import { pickRater, type ItemRaterIndex, type Sequences } from '../data/history';
import { sha256 } from '../util/hash';

/** One sampled entity and its sample: the target interaction (user, pos) in a training part. */
export const PlanEntrySchema = z
  .object({
    /** Raw id (user id / item id as in the source files). */
    entityId: z.string().min(1),
    /** Dataset index: user u (0-based) or item i (1-based). */
    index: z.number().int().nonnegative(),
    /** The target interaction: user index and 0-based position in their sequence. */
    user: z.number().int().nonnegative(),
    pos: z.number().int().nonnegative(),
    /** The knowledge cutoff f the sample was drawn under: its prompts show only each user's prefix below floor(f · train_end). Absent: no cutoff. */
    knowledgeCutoff: z.number().gt(0).lt(1).optional(),
  })
  .strict();
export type PlanEntry = z.infer<typeof PlanEntrySchema>;

/** A uint32 from a string, stable across platforms (the first 8 hex digits of sha256). */
export function stableHash(s: string): number {
  return parseInt(sha256(s).slice(0, 8), 16);
}

/** ceil would over-sample tiny sets; round keeps 40% of 10 at 4, and at least one when any exist. */
export function sampleCount(n: number, fraction: number): number {
  if (n === 0) return 0;
  return Math.min(n, Math.max(1, Math.round(n * fraction)));
}

/** The `fraction` of `ids` with the lowest hash(seed, domain, id); returned in input order. */
export function selectEntities<T extends { entityId: string }>(entities: readonly T[], fraction: number, seed: number, domain: Domain): T[] {
  const ranked = entities.map((e, i) => ({ i, h: stableHash(`${seed}|${domain}|select|${e.entityId}`) }));
  ranked.sort((a, b) => a.h - b.h || (entities[a.i]!.entityId < entities[b.i]!.entityId ? -1 : 1));
  const keep = new Set(ranked.slice(0, sampleCount(entities.length, fraction)).map((r) => r.i));
  return entities.filter((_, i) => keep.has(i));
}

function pick<T>(xs: readonly T[], key: string): T {
  return xs[stableHash(key) % xs.length]!;
}

/**
 * A user's sample: a train-sample position (historyLength+1 .. train_end-1), chosen by seed. A user
 * whose training part is too short for a train sample gets the latest training position that has
 * some history before it; null when the training part has fewer than two interactions.
 */
export function userSamplePos(seq: Sequences, user: number, historyLength: number, seed: number, entityId: string): number | null {
  const end = seq.trainEnd[user]!;
  if (end < 2) return null;
  const from = Math.min(historyLength + 1, end - 1);
  const positions = Array.from({ length: end - from }, (_, j) => from + j);
  return pick(positions, `${seed}|user|sample|${entityId}`);
}

/** Position of `item` in the user's training part (latest occurrence), or -1. */
export function trainingPosOf(seq: Sequences, user: number, item: number): number {
  const base = seq.offsets[user]!;
  for (let p = seq.trainEnd[user]! - 1; p >= 0; p--) if (seq.item[base + p] === item) return p;
  return -1;
}

/**
 * An item's sample: one of its training-part raters as the target user (their rating = the label).
 * The liking and disliking users shown in the prompt are avoided when another rater exists (their
 * own rating would give the label away), and real train samples (pos > historyLength) are preferred
 * over early positions with a shorter history.
 */
export function itemSampleTarget(
  seq: Sequences,
  raters: ItemRaterIndex,
  item: number,
  threshold: number,
  historyLength: number,
  seed: number,
  entityId: string,
): { user: number; pos: number } | null {
  const shown = new Set([pickRater(seq, raters, item, threshold, 'liking'), pickRater(seq, raters, item, threshold, 'disliking')]);
  const all: Array<{ user: number; pos: number }> = [];
  for (let p = raters.offsets[item]!; p < raters.offsets[item + 1]!; p++) {
    const user = raters.user[p]!;
    const pos = trainingPosOf(seq, user, item);
    if (pos >= 0) all.push({ user, pos });
  }
  const tiers = [
    all.filter((c) => !shown.has(c.user) && c.pos > historyLength),
    all.filter((c) => !shown.has(c.user) && c.pos > 0),
    all.filter((c) => c.pos > historyLength),
    all.filter((c) => c.pos > 0),
    all,
  ];
  const tier = tiers.find((t) => t.length > 0);
  return tier ? pick(tier, `${seed}|item|sample|${entityId}`) : null;
}
