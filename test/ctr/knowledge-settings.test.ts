// The trainer's knowledge settings are config keys: they validate with the trainer's ranges, reach
// the job spec the trainer parses, and change the model key of the jobs they affect.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { TrainSchema } from '../../config/schema';
import { buildSpec, jobConfigSlice } from '../../core/ctr';

const settings = { knowledgeNorm: 'none', knowledgeCross: false, knowledgeCutoff: 0.5, knowledgeCutoffMode: 'drop', knowledgeNoise: 0.25, monitor: 'auc' } as const;
const kar = { model: 'deepfm', features: 'paper', variant: 'kar', seed: 1 } as const;
const base = { ...kar, variant: 'base' } as const;

test('knowledge settings: defaults, ranges, and clear errors', () => {
  const d = TrainSchema.parse({});
  assert.deepEqual(
    { knowledgeNorm: d.knowledgeNorm, knowledgeCross: d.knowledgeCross, knowledgeCutoff: d.knowledgeCutoff, knowledgeCutoffMode: d.knowledgeCutoffMode, knowledgeNoise: d.knowledgeNoise, monitor: d.monitor },
    { knowledgeNorm: 'standardize', knowledgeCross: true, knowledgeCutoff: 0, knowledgeCutoffMode: 'mask', knowledgeNoise: 1, monitor: 'logloss' },
  );
  assert.deepEqual(TrainSchema.parse(settings).knowledgeCutoffMode, 'drop');
  for (const bad of [{ knowledgeCutoff: 0.96 }, { knowledgeCutoff: -0.1 }, { knowledgeCutoffMode: 'skip' }, { knowledgeNoise: 11 }, { monitor: 'accuracy' }, { knowledgeNorm: 'pca' }]) {
    const r = TrainSchema.safeParse(bad);
    assert.equal(r.success, false, JSON.stringify(bad));
    assert.equal(r.error!.issues[0]!.path[0], Object.keys(bad)[0]);
  }
});

test('knowledge settings reach the trainer spec', () => {
  const train = TrainSchema.parse(settings);
  const spec = buildSpec({ job: kar, train, dataFiles: {}, workDir: '/w', outDir: '/o' }) as { train: Record<string, unknown> };
  for (const [k, v] of Object.entries(settings)) assert.equal(spec.train[k], v, k);
});

test('the trainer parses the spec with these settings', { skip: !existsSync('.tools/venv/bin/python') && 'no Python venv (.tools/venv): run scripts/setup.sh' }, () => {
  const train = TrainSchema.parse(settings);
  const files = { user: '/k/u.npy', userIds: '/k/u.json', item: '/k/i.npy', itemIds: '/k/i.json' };
  const spec = buildSpec({ job: kar, train, dataFiles: { 'meta.json': '/d/meta.json' }, knowledge: { set: 'kar', ...files }, workDir: '/w', outDir: '/o' });
  const script = 'import json,sys\nfrom dataclasses import asdict\nfrom trainer.ctr.job import parse_job\nprint(json.dumps(asdict(parse_job(json.load(sys.stdin)).train)))';
  const out = JSON.parse(execFileSync(path.resolve('.tools/venv/bin/python'), ['-c', script], { input: JSON.stringify(spec), encoding: 'utf8' })) as Record<string, unknown>;
  assert.deepEqual(
    { n: out.knowledge_norm, c: out.knowledge_cross, f: out.knowledge_cutoff, m: out.knowledge_cutoff_mode, s: out.knowledge_noise, mon: out.monitor },
    { n: 'none', c: false, f: 0.5, m: 'drop', s: 0.25, mon: 'auc' },
  );
});

test('a changed knowledge setting changes the knowledge models key, not Base (monitor: every model)', () => {
  const d = TrainSchema.parse({});
  for (const [k, v] of Object.entries(settings)) {
    const changed = TrainSchema.parse({ ...(k === 'knowledgeCutoffMode' ? { knowledgeCutoff: 0.5 } : {}), [k]: v });
    const from = k === 'knowledgeCutoffMode' ? TrainSchema.parse({ knowledgeCutoff: 0.5 }) : d;
    assert.notDeepEqual(jobConfigSlice(kar, from), jobConfigSlice(kar, changed), k);
    if (k === 'monitor') assert.notDeepEqual(jobConfigSlice(base, from), jobConfigSlice(base, changed));
    else assert.deepEqual(jobConfigSlice(base, from), jobConfigSlice(base, changed), k);
  }
  assert.deepEqual(jobConfigSlice({ model: 'floor' }, d), jobConfigSlice({ model: 'floor' }, TrainSchema.parse(settings)));
});
