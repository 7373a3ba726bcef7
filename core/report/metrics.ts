// AUC (rank-based, ties averaged) and LogLoss, and AUC by user-activity and item-popularity bucket.

export function auc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSumPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]!] === scores[idx[i]!]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (labels[idx[k]!]! > 0) {
      pos++;
      rankSumPos += avgRank;
    }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export function logloss(labels: ArrayLike<number>, probs: ArrayLike<number>): number {
  const eps = 1e-7;
  let s = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, probs[i]!));
    s += labels[i]! > 0 ? -Math.log(p) : -Math.log(1 - p);
  }
  return s / labels.length;
}

export interface Bucket {
  name: string;
  /** Inclusive lower and exclusive upper bound of the bucketed quantity. */
  range: [number, number];
}

/** Users by training interactions: cold (< 20), long-tail (20–99), active (≥ 100). */
export const USER_BUCKETS: Bucket[] = [
  { name: 'cold (<20)', range: [0, 20] },
  { name: 'long-tail (20–99)', range: [20, 100] },
  { name: 'active (≥100)', range: [100, Infinity] },
];

/** Items by training interactions. */
export const ITEM_BUCKETS: Bucket[] = [
  { name: 'rare (<10)', range: [0, 10] },
  { name: 'mid (10–99)', range: [10, 100] },
  { name: 'popular (≥100)', range: [100, Infinity] },
];

export interface BucketResult {
  bucket: string;
  samples: number;
  auc: number;
}

/** AUC per bucket of a per-sample quantity (e.g. the sample's user's training interactions). */
export function aucByBucket(labels: ArrayLike<number>, probs: ArrayLike<number>, quantity: ArrayLike<number>, buckets: Bucket[]): BucketResult[] {
  return buckets.map((b) => {
    const l: number[] = [];
    const p: number[] = [];
    for (let i = 0; i < labels.length; i++) {
      const q = quantity[i]!;
      if (q >= b.range[0] && q < b.range[1]) {
        l.push(labels[i]!);
        p.push(probs[i]!);
      }
    }
    return { bucket: b.name, samples: l.length, auc: auc(l, p) };
  });
}

export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}
