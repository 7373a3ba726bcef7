import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auc, aucByBucket, logloss, meanStd, percentile } from '../../core/report/metrics';

test('auc: perfect, inverted, random-tied and a hand-computed case', () => {
  assert.equal(auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]), 1);
  assert.equal(auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]), 0);
  assert.equal(auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]), 0.5);
  // pairs (pos, neg): (0.4 vs 0.1 ✓), (0.4 vs 0.35 ✓), (0.4 vs 0.8 ✗), (0.9 vs all ✓ ×3) → 5/6
  assert.ok(Math.abs(auc([1, 0, 0, 0, 1], [0.4, 0.1, 0.35, 0.8, 0.9]) - 5 / 6) < 1e-12);
  assert.ok(Number.isNaN(auc([1, 1], [0.2, 0.3])));
});

test('logloss matches the definition and clips', () => {
  const ll = logloss([1, 0], [0.8, 0.3]);
  assert.ok(Math.abs(ll - (-Math.log(0.8) - Math.log(0.7)) / 2) < 1e-12);
  assert.ok(Number.isFinite(logloss([1], [0])));
});

test('auc by bucket splits samples by the bucketed quantity', () => {
  const r = aucByBucket([0, 1, 0, 1], [0.1, 0.9, 0.9, 0.1], [1, 1, 50, 50], [
    { name: 'low', range: [0, 10] },
    { name: 'high', range: [10, Infinity] },
  ]);
  assert.deepEqual(r.map((b) => [b.bucket, b.samples, b.auc]), [
    ['low', 2, 1],
    ['high', 2, 0],
  ]);
});

test('percentile and mean/std', () => {
  assert.equal(percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(percentile([5], 0.99), 5);
  const m = meanStd([1, 2, 3]);
  assert.equal(m.mean, 2);
  assert.equal(m.std, 1);
});
