// Pure helpers over the per-user sequences that construct/refine/encode need. Only training-part
// interactions (positions < train_end) are ever returned: nothing here can leak a test-split
// interaction into a prompt.

export interface Sequences {
  /** CSR offsets [U+1] into item/rating (as numbers; int64 on disk). */
  offsets: Float64Array;
  item: Int32Array;
  rating: Int8Array;
  /** Per user: positions 0..trainEnd-1 are the training part. */
  trainEnd: Int32Array;
}

export interface Interaction {
  item: number;
  rating: number;
  /** 0-based position in the user's sorted sequence. */
  pos: number;
}

export function userCount(seq: Sequences): number {
  return seq.trainEnd.length;
}

/** How many training-part interactions the user has. */
export function trainingInteractionCount(seq: Sequences, user: number): number {
  return seq.trainEnd[user]!;
}

/**
 * The user's latest `k` training-part interactions, oldest first; interactions with `excludeItem`
 * are skipped (and do not count towards `k`).
 */
export function latestTrainingInteractions(seq: Sequences, user: number, k: number, excludeItem?: number): Interaction[] {
  const base = seq.offsets[user]!;
  const out: Interaction[] = [];
  for (let pos = seq.trainEnd[user]! - 1; pos >= 0 && out.length < k; pos--) {
    const item = seq.item[base + pos]!;
    if (item === excludeItem) continue;
    out.push({ item, rating: seq.rating[base + pos]!, pos });
  }
  return out.reverse();
}

/** All training-part interactions of a user, oldest first. */
export function trainingInteractions(seq: Sequences, user: number): Interaction[] {
  return latestTrainingInteractions(seq, user, Number.MAX_SAFE_INTEGER);
}

/**
 * The knowledge cutoff: per user, the first position their knowledge may not describe,
 * c_u = floor(fraction · train_end_u). The trainer applies the same rule to decide which training
 * samples the knowledge could have described (trainer/ctr/data.py `cutoff_positions`); both compute
 * it in float64, so they agree position for position.
 */
export function knowledgeCutoffPositions(trainEnd: Int32Array, fraction: number): Int32Array {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`knowledge cutoff ${fraction} is outside [0, 1)`);
  return trainEnd.map((end) => Math.floor(end * fraction));
}

/**
 * The sequences as the knowledge stages see them under a cutoff: each user's training part ends at
 * c_u, so every helper here (latest interactions, raters, the liking/disliking users, sample
 * positions) reads only the prefix. fraction 0 = no cutoff: the sequences themselves.
 */
export function knowledgePrefix<S extends Sequences>(seq: S, fraction: number): S {
  if (fraction === 0) return seq;
  return { ...seq, trainEnd: knowledgeCutoffPositions(seq.trainEnd, fraction) };
}

/** For each item, the users who rated it in their training part with their latest such rating. */
export interface ItemRaterIndex {
  /** CSR offsets [I+1] over item ids 0..I (row 0 = padding, empty). */
  offsets: Int32Array;
  user: Int32Array;
  rating: Int8Array;
}

export function buildItemRaterIndex(seq: Sequences, itemCount: number): ItemRaterIndex {
  const U = userCount(seq);
  // A user may rate an item more than once (Amazon): keep only their latest training-part rating,
  // found by scanning each user's training part from the end. Two passes (count, fill) keep memory
  // at the size of the result.
  const seen = new Set<number>();
  const visit = (fn: (item: number, user: number, rating: number) => void) => {
    for (let u = 0; u < U; u++) {
      const base = seq.offsets[u]!;
      seen.clear();
      for (let pos = seq.trainEnd[u]! - 1; pos >= 0; pos--) {
        const it = seq.item[base + pos]!;
        if (seen.has(it)) continue;
        seen.add(it);
        fn(it, u, seq.rating[base + pos]!);
      }
    }
  };
  const offsets = new Int32Array(itemCount + 2);
  visit((it) => offsets[it + 1]!++);
  for (let i = 0; i <= itemCount; i++) offsets[i + 1]! += offsets[i]!;
  const total = offsets[itemCount + 1]!;
  const fill = offsets.slice(0, itemCount + 1);
  const user = new Int32Array(total);
  const rating = new Int8Array(total);
  visit((it, u, r) => {
    const at = fill[it]!++;
    user[at] = u;
    rating[at] = r;
  });
  return { offsets, user, rating };
}

/**
 * Construct's rule (docs/DESIGN.md): the liking (disliking) user of an item is the user with most training
 * interactions who rated it > threshold (<= threshold) in their training part; ties go to the
 * lowest user index (users are indexed in raw-id order). null when nobody qualifies.
 */
export function pickRater(seq: Sequences, index: ItemRaterIndex, item: number, threshold: number, side: 'liking' | 'disliking'): number | null {
  let best: number | null = null;
  let bestCount = -1;
  for (let p = index.offsets[item]!; p < index.offsets[item + 1]!; p++) {
    const r = index.rating[p]!;
    if (side === 'liking' ? r <= threshold : r > threshold) continue;
    const u = index.user[p]!;
    const c = seq.trainEnd[u]!;
    if (c > bestCount || (c === bestCount && u < best!)) {
      best = u;
      bestCount = c;
    }
  }
  return best;
}

export interface ItemSampleSide {
  user: number;
  /** Their latest `historyLength` training interactions other than this item, oldest first. */
  history: Interaction[];
}

/** Both sides of an item sample; a missing side is null (rendered as "(no such user)"). */
export function itemSampleUsers(
  seq: Sequences,
  index: ItemRaterIndex,
  item: number,
  threshold: number,
  historyLength = 10,
): { liking: ItemSampleSide | null; disliking: ItemSampleSide | null } {
  const side = (s: 'liking' | 'disliking'): ItemSampleSide | null => {
    const user = pickRater(seq, index, item, threshold, s);
    return user === null ? null : { user, history: latestTrainingInteractions(seq, user, historyLength, item) };
  };
  return { liking: side('liking'), disliking: side('disliking') };
}
