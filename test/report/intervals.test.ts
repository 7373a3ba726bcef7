import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../core/data/synth';
import { aucDeltaInterval, formatDelta, overSeeds } from '../../core/report/intervals';
import { auc } from '../../core/report/metrics';

/**
 * A test split of `users` users × `per` samples: each user has a taste shift that moves all their
 * labels together (so samples of one user are correlated, as in real data), and a per-sample
 * signal. `model(k)` gives predictions that see the signal with its own noise.
 */
function world(seed: number, users = 200, per = 15) {
  const rng = new Rng(seed);
  const n = users * per;
  const userOf = new Int32Array(n);
  const signal = new Float64Array(n);
  const labels = new Uint8Array(n);
  for (let u = 0; u < users; u++) {
    const shift = rng.normal();
    for (let k = 0; k < per; k++) {
      const i = u * per + k;
      userOf[i] = u;
      signal[i] = rng.normal();
      labels[i] = signal[i]! + shift + rng.normal() > 0 ? 1 : 0;
    }
  }
  const model = (noise: number, s: number) => {
    const r = new Rng(s);
    return Float32Array.from(signal, (x) => x + noise * r.normal());
  };
  return { p: { labels, users: userOf }, model };
}

test('with all weights 1 the difference is the plain AUC difference, ties included', () => {
  const labels = [1, 0, 0, 1, 1, 0, 1, 0];
  const users = [0, 0, 1, 1, 2, 2, 3, 3];
  const base = [0.5, 0.5, 0.2, 0.7, 0.5, 0.5, 0.9, 0.1];
  const variant = [0.6, 0.4, 0.3, 0.3, 0.8, 0.5, 0.2, 0.2];
  const d = aucDeltaInterval({ labels, users }, [base], [variant], { resamples: 50 });
  assert.ok(Math.abs(d.delta - (auc(labels, variant) - auc(labels, base))) < 1e-12);
  assert.equal(d.seeds, 1);
  assert.equal(d.seSeeds, 0);
  assert.ok(d.lo <= d.delta && d.delta <= d.hi);
});

test('identical predictions: Δ 0 and "no difference"', () => {
  const { p, model } = world(1);
  const m = model(1, 5);
  const d = aucDeltaInterval(p, [m], [Float32Array.from(m)]);
  assert.equal(d.delta, 0);
  assert.equal(d.lo, 0);
  assert.equal(d.hi, 0);
  assert.equal(d.noDifference, true);
  assert.match(formatDelta(d), /^no difference/);
});

test('a clearly better model: the interval excludes 0', () => {
  const { p, model } = world(2);
  const d = aucDeltaInterval(p, [model(3, 1)], [model(0.3, 2)]);
  assert.ok(d.delta > 0.1, `delta ${d.delta}`);
  assert.ok(d.lo > 0, `lo ${d.lo}`);
  assert.equal(d.noDifference, false);
  assert.doesNotMatch(formatDelta(d), /no difference/);
});

test('two equally good models: the 95 % interval covers the true Δ 0 in about 95 % of test splits', () => {
  let covered = 0;
  const trials = 60;
  for (let t = 0; t < trials; t++) {
    const { p, model } = world(100 + t, 120, 12);
    const d = aucDeltaInterval(p, [model(1, 2 * t)], [model(1, 2 * t + 1)], { resamples: 200, seed: t });
    if (d.noDifference) covered++;
  }
  // Binomial(60, 0.95): 51 or more in 99 % of runs; an interval of ±1 standard error (68 %)
  // covers about 36 of these 60.
  assert.ok(covered >= 51, `covered ${covered}/${trials}`);
});

test('seeds: their spread widens the interval, and the mean is over seeds', () => {
  const { p, model } = world(3);
  const base = [model(1, 10), model(1, 11), model(1, 12)];
  const variant = [model(0.9, 20), model(1.2, 21), model(0.7, 22)];
  const d = aucDeltaInterval(p, base, variant, { resamples: 200 });
  const single = base.map((b, s) => auc(p.labels, variant[s]!) - auc(p.labels, b));
  assert.ok(Math.abs(d.delta - single.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  assert.equal(d.seeds, 3);
  assert.ok(d.seSeeds > 0);
  const half = (d.hi - d.lo) / 2;
  assert.ok(Math.abs(half - 1.96 * Math.hypot(d.seUsers, d.seSeeds)) < 1e-12);
});

test('the same inputs and seed give the same interval', () => {
  const { p, model } = world(4);
  const a = aucDeltaInterval(p, [model(1, 1)], [model(0.8, 2)], { seed: 9 });
  const b = aucDeltaInterval(p, [model(1, 1)], [model(0.8, 2)], { seed: 9 });
  assert.deepEqual(a, b);
});

test('mismatched inputs are refused', () => {
  const p = { labels: [1, 0], users: [0, 1] };
  assert.throws(() => aucDeltaInterval(p, [], []), /same number \(>= 1\)/);
  assert.throws(() => aucDeltaInterval(p, [[0.1, 0.2]], [[0.1, 0.2], [0.3, 0.4]]), /same number/);
  assert.throws(() => aucDeltaInterval(p, [[0.1, 0.2, 0.3]], [[0.1, 0.2, 0.3]]), /3 samples for 2 test labels/);
  assert.throws(() => aucDeltaInterval({ labels: [1, 0], users: [0] }, [[0.1, 0.2]], [[0.1, 0.2]]), /1 user rows/);
});

test('mean ± std over seeds', () => {
  assert.deepEqual(overSeeds([0.7]), { mean: 0.7, std: 0, n: 1 });
  const r = overSeeds([0.7, 0.72, 0.74]);
  assert.ok(Math.abs(r.mean - 0.72) < 1e-12 && Math.abs(r.std - 0.02) < 1e-12 && r.n === 3);
  assert.throws(() => overSeeds([]), /no values/);
});
