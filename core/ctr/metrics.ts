// AUC and LogLoss as the trainer computes them (trainer/ctr/metrics.py): rank-based AUC with ties
// counted as half, LogLoss with probabilities clipped to [1e-7, 1 - 1e-7].

type Num = ArrayLike<number>;

export function auc(labels: Num, scores: Num): number {
  const n = labels.length;
  if (scores.length !== n) throw new RangeError(`auc: ${n} labels but ${scores.length} scores`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let nPos = 0;
  let rankSum = 0;
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && scores[order[e]!] === scores[order[s]!]) e++;
    const avgRank = (s + e + 1) / 2; // 1-based ranks s+1..e
    for (let k = s; k < e; k++) {
      if (labels[order[k]!]! > 0) {
        nPos++;
        rankSum += avgRank;
      }
    }
    s = e;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return Number.NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

const EPS = 1e-7;

export function logloss(labels: Num, probs: Num): number {
  const n = labels.length;
  if (probs.length !== n) throw new RangeError(`logloss: ${n} labels but ${probs.length} probabilities`);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - EPS, Math.max(EPS, probs[i]!));
    sum += labels[i]! > 0 ? Math.log(p) : Math.log(1 - p);
  }
  return -sum / n;
}

/** Mean and sample standard deviation (n-1; 0 for one value). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}
