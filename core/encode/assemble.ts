// From text vectors to one row per entity (docs/ARCHITECTURE.md, "Knowledge vectors"):
//  - an entity's row is the mean of its chosen samples' vectors (filter strategy: the kept ones);
//  - an approximated user's row is the mean of the rows of the items in its training part that have
//    knowledge in the same set;
//  - everything else (no record, no usable text, an approximated user with no known item) is zero.
import type { EncodingPlan } from './knowledge';

export interface DomainCounts {
  /** Matrix rows: U for users, I+1 for items (row 0 padding). */
  rows: number;
  /** The domain's entity set (users with samples; items with a training interaction). */
  entities: number;
  /** Rows with a vector. */
  withKnowledge: number;
  /** Entities whose row is zero: no record, no usable text, or an approximated user with no known item. */
  withoutKnowledge: number;
  /** Of these, entities the knowledge file does not mention at all. */
  missing: number;
  approximated: number;
  /** Approximated users none of whose training items has knowledge (zero rows). */
  approximatedEmpty: number;
  texts: number;
  emptyTexts: number;
  filtered: number;
  keptNone: number;
}

export interface AssembledDomain {
  matrix: Float32Array;
  /** Whether each row carries knowledge (false for zero rows and padding). */
  has: Uint8Array;
  entitySet: Uint8Array;
  counts: DomainCounts;
}

/**
 * Rows for one domain: one per entry of `entitySet` (U for users, I+1 for items, row 0 padding);
 * `textVectors` is the plan's texts × dim. Approximated entities stay zero here; see `fillApproximated`.
 */
export function assembleRows(plan: EncodingPlan, textVectors: Float32Array, dim: number, entitySet: Uint8Array): AssembledDomain {
  const rows = entitySet.length;
  const matrix = new Float32Array(rows * dim);
  const has = new Uint8Array(rows);
  const sum = new Float64Array(dim);
  let approximated = 0;
  for (const e of plan.entities) {
    if (e.approximated) {
      approximated++;
      continue;
    }
    if (e.textIds.length === 0) continue;
    sum.fill(0);
    for (const t of e.textIds) {
      const off = t * dim;
      for (let h = 0; h < dim; h++) sum[h]! += textVectors[off + h]!;
    }
    const row = matrix.subarray(e.row * dim, (e.row + 1) * dim);
    for (let h = 0; h < dim; h++) row[h] = sum[h]! / e.textIds.length;
    has[e.row] = 1;
  }
  const mentioned = new Uint8Array(rows);
  for (const e of plan.entities) mentioned[e.row] = 1;
  let entities = 0;
  let missing = 0;
  for (let r = 0; r < rows; r++) {
    entities += entitySet[r]!;
    if (entitySet[r] && !mentioned[r]) missing++;
  }
  return {
    matrix,
    has,
    entitySet,
    counts: {
      rows,
      entities,
      withKnowledge: count(has),
      withoutKnowledge: zeroEntities(has, entitySet),
      missing,
      approximated,
      approximatedEmpty: 0,
      texts: plan.texts.length,
      emptyTexts: plan.stats.emptyTexts,
      filtered: plan.stats.filtered,
      keptNone: plan.stats.keptNone,
    },
  };
}

/** Approximated users: the mean of their training items' rows, over items that have knowledge. */
export function fillApproximated(
  users: AssembledDomain,
  plan: EncodingPlan,
  items: AssembledDomain,
  dim: number,
  trainingItems: (u: number) => ArrayLike<number>,
): void {
  const sum = new Float64Array(dim);
  let empty = 0;
  for (const e of plan.entities) {
    if (!e.approximated) continue;
    sum.fill(0);
    let n = 0;
    const hist = trainingItems(e.row);
    for (let k = 0; k < hist.length; k++) {
      const i = hist[k]!;
      if (!items.has[i]) continue;
      const off = i * dim;
      for (let h = 0; h < dim; h++) sum[h]! += items.matrix[off + h]!;
      n++;
    }
    if (n === 0) {
      empty++;
      continue;
    }
    const row = users.matrix.subarray(e.row * dim, (e.row + 1) * dim);
    for (let h = 0; h < dim; h++) row[h] = sum[h]! / n;
    users.has[e.row] = 1;
  }
  users.counts.withKnowledge = count(users.has);
  users.counts.withoutKnowledge = zeroEntities(users.has, users.entitySet);
  users.counts.approximatedEmpty = empty;
}

function zeroEntities(has: Uint8Array, entitySet: Uint8Array): number {
  let n = 0;
  for (let r = 0; r < has.length; r++) if (entitySet[r] && !has[r]) n++;
  return n;
}

function count(a: Uint8Array): number {
  let n = 0;
  for (const v of a) n += v;
  return n;
}
