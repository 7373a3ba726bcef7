// How sure a Table 2 difference is: per variant the mean ± std over seeds, and the AUC difference to
// the same backbone's Base with a 95 % interval. Two kinds of noise move a difference, and the
// interval adds both:
//  - which users happen to be in the test split: a paired bootstrap over test users (resample users
//    with replacement, score Base and the variant on the same resample). Users, not samples, are
//    the unit because one user's samples share that user's taste and are not independent. It works
//    with one seed, which is why it is the default unit;
//  - training randomness (initialisation, shuffling): with two or more seeds, the spread of the
//    per-seed differences, var/N for the mean of N.
// The interval is Δ ± 1.96·√(SE²_users + s²_seeds/N); it containing 0 means "no difference".
// Pure functions: predictions in, numbers out (the report builder reads the arrays).
import { Rng } from '../data/synth';
import { meanStd } from './metrics';

export interface Predictions {
  /** Test labels, 0/1, in test-split order. */
  labels: ArrayLike<number>;
  /** Test sample → user row, same order. */
  users: ArrayLike<number>;
}

export interface DeltaInterval {
  /** AUC(variant) − AUC(base), both averaged over seeds. */
  delta: number;
  lo: number;
  hi: number;
  /** Standard error from the user bootstrap and from the seeds (0 with one seed). */
  seUsers: number;
  seSeeds: number;
  seeds: number;
  resamples: number;
  /** The interval contains 0. */
  noDifference: boolean;
}

export interface IntervalOptions {
  /** Bootstrap resamples (default 500: enough for a standard error to about 3 %). */
  resamples?: number;
  /** Seed of the resampling, so a report is reproducible. */
  seed?: number;
  /** Two-sided normal quantile (default 1.96: a 95 % interval). */
  z?: number;
}

/** Scores sorted once; a weighted AUC is then one pass per resample. */
interface SortedModel {
  order: Int32Array;
  /** For each position in `order`: the index of the first position of its tie group. */
  groupStart: Int32Array;
}

function sortModel(scores: ArrayLike<number>): SortedModel {
  const n = scores.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
  const groupStart = new Int32Array(n);
  for (let k = 1; k < n; k++) groupStart[k] = scores[order[k]!] === scores[order[k - 1]!] ? groupStart[k - 1]! : k;
  return { order, groupStart };
}

/**
 * AUC with a weight per sample (a resample's multiplicity): the probability that a weighted positive
 * outscores a weighted negative, ties counting one half.
 */
function weightedAuc(m: SortedModel, labels: ArrayLike<number>, w: Float64Array): number {
  const { order, groupStart } = m;
  const n = order.length;
  let negBelow = 0; // weight of negatives in groups strictly below the current one
  let wPos = 0;
  let wNeg = 0;
  let num = 0;
  for (let k = 0; k < n; ) {
    // One tie group [k, e).
    let e = k + 1;
    while (e < n && groupStart[e] === k) e++;
    let gPos = 0;
    let gNeg = 0;
    for (let j = k; j < e; j++) {
      const i = order[j]!;
      if (labels[i]! > 0) gPos += w[i]!;
      else gNeg += w[i]!;
    }
    num += gPos * (negBelow + gNeg / 2);
    negBelow += gNeg;
    wPos += gPos;
    wNeg += gNeg;
    k = e;
  }
  return wPos > 0 && wNeg > 0 ? num / (wPos * wNeg) : Number.NaN;
}

/** Per-sample weights of `resamples` user bootstraps (each draws as many users as there are, with replacement). */
function* userResamples(users: ArrayLike<number>, resamples: number, seed: number): Generator<Float64Array> {
  const ids = [...new Set(Array.from(users))].sort((a, b) => a - b);
  const slot = new Map(ids.map((u, k) => [u, k]));
  const sampleSlot = Int32Array.from(users as ArrayLike<number>, (u) => slot.get(u)!);
  const rng = new Rng(seed);
  const count = new Float64Array(ids.length);
  const w = new Float64Array(users.length);
  for (let b = 0; b < resamples; b++) {
    count.fill(0);
    for (let k = 0; k < ids.length; k++) count[rng.int(ids.length)]! += 1;
    for (let i = 0; i < w.length; i++) w[i] = count[sampleSlot[i]!]!;
    yield w;
  }
}

/**
 * Δ AUC of `variant` vs `base` with its interval. `base[s]` and `variant[s]` are the test
 * predictions of seed s (same seeds, same order; one seed is allowed).
 */
export function aucDeltaInterval(p: Predictions, base: readonly ArrayLike<number>[], variant: readonly ArrayLike<number>[], opts: IntervalOptions = {}): DeltaInterval {
  if (base.length === 0 || base.length !== variant.length) {
    throw new RangeError(`aucDeltaInterval: need the same number (>= 1) of base and variant seeds, got ${base.length} and ${variant.length}`);
  }
  const n = p.labels.length;
  for (const x of [...base, ...variant]) {
    if (x.length !== n) throw new RangeError(`aucDeltaInterval: predictions of ${x.length} samples for ${n} test labels`);
  }
  if (p.users.length !== n) throw new RangeError(`aucDeltaInterval: ${p.users.length} user rows for ${n} test labels`);
  const resamples = opts.resamples ?? 500;
  const z = opts.z ?? 1.96;
  const ones = new Float64Array(n).fill(1);
  const sb = base.map(sortModel);
  const sv = variant.map(sortModel);
  const perSeed = sb.map((m, s) => weightedAuc(sv[s]!, p.labels, ones) - weightedAuc(m, p.labels, ones));
  const delta = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;

  const deltas: number[] = [];
  for (const w of userResamples(p.users, resamples, opts.seed ?? 1)) {
    let d = 0;
    for (let s = 0; s < sb.length; s++) d += weightedAuc(sv[s]!, p.labels, w) - weightedAuc(sb[s]!, p.labels, w);
    const x = d / sb.length;
    if (Number.isFinite(x)) deltas.push(x);
  }
  const seUsers = deltas.length > 1 ? meanStd(deltas).std : 0;
  const seSeeds = perSeed.length > 1 ? meanStd(perSeed).std / Math.sqrt(perSeed.length) : 0;
  const half = z * Math.sqrt(seUsers ** 2 + seSeeds ** 2);
  const lo = delta - half;
  const hi = delta + half;
  return { delta, lo, hi, seUsers, seSeeds, seeds: perSeed.length, resamples: deltas.length, noDifference: lo <= 0 && hi >= 0 };
}

/** Mean ± sample std of one metric over seeds (std 0 with one seed). */
export function overSeeds(values: readonly number[]): { mean: number; std: number; n: number } {
  if (values.length === 0) throw new RangeError('overSeeds: no values');
  const { mean, std } = meanStd([...values]);
  return { mean, std, n: values.length };
}

/** "+0.0123 [+0.0050, +0.0196]" or "no difference (+0.0011 [−0.0030, +0.0052])". */
export function formatDelta(d: DeltaInterval, digits = 4): string {
  const f = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
  const body = `${f(d.delta)} [${f(d.lo)}, ${f(d.hi)}]`;
  return d.noDifference ? `no difference (${body})` : body;
}
