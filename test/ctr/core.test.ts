// core/ctr without Python: the metrics (the same definitions as the trainer's), the train stage's
// job plan, keys' config slices and the summary's shape (the CLI contract's `train` block, docs/DESIGN.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TrainSchema } from '../../config/schema';
import { auc, featureSets, jobConfigSlice, jobName, logloss, meanStd, needsKnowledge, planJobs, stageConfigSlice, summarize, type JobOutcome } from '../../core/ctr';

test('auc equals the pairwise definition, ties counted as half', () => {
  let s = 7;
  const rand = () => (s = (s * 48271) % 2147483647) / 2147483647;
  const labels = Array.from({ length: 400 }, () => (rand() < 0.4 ? 1 : 0));
  const scores = Array.from({ length: 400 }, () => Math.round(rand() * 20) / 20); // many ties
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < 400; i++)
    for (let j = 0; j < 400; j++)
      if (labels[i] === 1 && labels[j] === 0) {
        pairs++;
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
  assert.ok(Math.abs(auc(labels, scores) - wins / pairs) < 1e-12);
  assert.equal(auc([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.1]), 1);
  assert.ok(Number.isNaN(auc([1, 1], [0.2, 0.3])), 'one class only: undefined');
  assert.throws(() => auc([1, 0], [0.5]), /2 labels but 1 scores/);
});

test('logloss clips probabilities and averages', () => {
  assert.ok(Math.abs(logloss([1, 0], [0.8, 0.4]) - -(Math.log(0.8) + Math.log(0.6)) / 2) < 1e-12);
  assert.ok(Number.isFinite(logloss([1], [0])), 'a zero probability is clipped, not -Infinity');
});

test('meanStd uses the sample standard deviation', () => {
  assert.deepEqual(meanStd([2]), { mean: 2, std: 0 });
  const r = meanStd([1, 2, 3, 4]);
  assert.equal(r.mean, 2.5);
  assert.ok(Math.abs(r.std - Math.sqrt(5 / 3)) < 1e-12);
});

test('plan: the floor, then every feature set × backbone × variant × seed', () => {
  const train = TrainSchema.parse({ backbones: ['dcn', 'dien'], variants: ['base', 'r4ec'], seeds: [1, 2, 3], featureSets: ['full', 'paper'] });
  assert.deepEqual(featureSets(train), ['paper', 'full']);
  const jobs = planJobs(train);
  assert.equal(jobs.length, 1 + 2 * 2 * 2 * 3);
  assert.deepEqual(jobs[0], { model: 'floor' });
  assert.equal(jobName(jobs[1]!), 'paper/dcn/base/seed-1');
  assert.equal(new Set(jobs.map(jobName)).size, jobs.length);
  assert.equal(needsKnowledge(train), true);
  assert.equal(needsKnowledge(TrainSchema.parse({ variants: ['base'] })), false);
  assert.deepEqual(planJobs(TrainSchema.parse({ floor: false, backbones: ['dcn'], variants: ['base'] })), [
    { model: 'dcn', features: 'paper', variant: 'base', seed: 1 },
  ]);
});

test('keys: only what changes a result is hashed', () => {
  const a = TrainSchema.parse({});
  const b = TrainSchema.parse({ threads: 2, device: 'cpu', heartbeatTimeoutSeconds: 60 });
  assert.deepEqual(stageConfigSlice(a), stageConfigSlice(b));
  assert.notDeepEqual(stageConfigSlice(a), stageConfigSlice(TrainSchema.parse({ epochs: 3 })));
  const job = { model: 'dcn', features: 'paper', variant: 'base', seed: 1 } as const;
  // the adaptor and connectors do not touch a Base model: its output is reused across them
  assert.deepEqual(jobConfigSlice(job, a), jobConfigSlice(job, TrainSchema.parse({ adaptor: 'hybrid-expert', connector: [64] })));
  const kar = { ...job, variant: 'kar' } as const;
  assert.notDeepEqual(jobConfigSlice(kar, a), jobConfigSlice(kar, TrainSchema.parse({ adaptor: 'hybrid-expert' })));
  assert.deepEqual(jobConfigSlice({ model: 'floor' }, a), jobConfigSlice({ model: 'floor' }, TrainSchema.parse({ epochs: 1 })));
});

test('summary: the floor, results of the primary feature set, std over seeds, every set in byFeatures', () => {
  const train = TrainSchema.parse({ backbones: ['dcn', 'deepfm'], variants: ['base', 'kar'], seeds: [1, 2], featureSets: ['full'] });
  const outcomes: JobOutcome[] = [{ job: { model: 'floor' }, key: 'f', metrics: { auc: 0.8, logloss: 0.54 } }];
  for (const features of ['paper', 'full'] as const)
    for (const model of ['deepfm', 'dcn'] as const)
      for (const variant of ['kar', 'base'] as const)
        for (const seed of [1, 2]) {
          const auc = (features === 'full' ? 0.81 : 0.77) + (variant === 'kar' ? 0.02 : 0) + seed * 0.001;
          outcomes.push({ job: { model, features, variant, seed }, key: `${model}${seed}`, metrics: { auc, logloss: 0.55 - seed * 0.01 } });
        }
  const s = summarize(train, outcomes);
  assert.equal(s.features, 'paper');
  assert.deepEqual(s.floor, { auc: 0.8, logloss: 0.54 });
  assert.deepEqual(Object.keys(s.results), ['dcn', 'deepfm'], 'backbones in canonical order');
  assert.deepEqual(Object.keys(s.results.dcn!), ['base', 'kar'], 'variants in canonical order');
  const r = s.results.dcn!.kar!;
  assert.ok(Math.abs(r.auc - 0.7915) < 1e-12);
  assert.equal(r.seeds, 2);
  assert.ok(Math.abs(r.aucStd! - Math.sqrt(0.0005 ** 2 * 2)) < 1e-12);
  assert.ok(Math.abs(s.byFeatures.full!.dcn!.base!.auc - 0.8115) < 1e-12);
  assert.equal(s.models, outcomes.length);
  const one = summarize(TrainSchema.parse({ backbones: ['dcn'], variants: ['base'] }), [outcomes[1]!]);
  assert.deepEqual(Object.keys(one.results.deepfm!.kar!), ['auc', 'logloss'], 'no std with one seed');
});
