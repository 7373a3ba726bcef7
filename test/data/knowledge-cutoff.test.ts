// The knowledge cutoff rule, c_u = floor(f · train_end_u), is written twice: here for the prompts
// (refine, construct) and in the trainer for the samples it masks. They must agree position for
// position, float rounding included.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { knowledgeCutoffPositions, knowledgePrefix, latestTrainingInteractions, type Sequences } from '../../core/data';
import { loadEncodeDataset } from '../../core/encode/dataset';
import { encodeStageKey } from '../../core/encode/stage';
import { refineConfigSlice } from '../../core/refine/plan';
import { LocalStore } from '../../core/store';
import { ingestSynthetic } from '../helpers/dataset';

// Hand-made: short, empty and long training parts, and products that land just off an integer in
// float64 (0.3 · 10 = 3.0000000000000004, 0.7 · 10 = 7.000000000000001, 0.35 · 20 = 7).
const trainEnd = Int32Array.from([0, 1, 2, 3, 7, 10, 11, 20, 101]);
const cases: Array<[number, number[]]> = [
  [0.5, [0, 0, 1, 1, 3, 5, 5, 10, 50]],
  [0.3, [0, 0, 0, 0, 2, 3, 3, 6, 30]],
  [0.7, [0, 0, 1, 2, 4, 7, 7, 14, 70]],
  [0.35, [0, 0, 0, 1, 2, 3, 3, 7, 35]],
  [0.95, [0, 0, 1, 2, 6, 9, 10, 19, 95]],
];

test('knowledgeCutoffPositions: floor(f · train_end) on a hand-made example', () => {
  for (const [f, want] of cases) assert.deepEqual([...knowledgeCutoffPositions(trainEnd, f)], want, `f = ${f}`);
  assert.deepEqual([...knowledgeCutoffPositions(trainEnd, 0)], new Array<number>(trainEnd.length).fill(0));
  assert.throws(() => knowledgeCutoffPositions(trainEnd, 1), /outside \[0, 1\)/);
  assert.throws(() => knowledgeCutoffPositions(trainEnd, -0.1), /outside/);
});

test('knowledgeCutoffPositions matches the trainer\'s cutoff_positions', { skip: !existsSync('.tools/venv/bin/python') && 'no Python venv (.tools/venv): run scripts/setup.sh' }, () => {
  const script = [
    'import json, sys, types',
    'import numpy as np',
    'from trainer.ctr.data import cutoff_positions',
    'a = json.load(sys.stdin)',
    'ds = types.SimpleNamespace(seq={"train_end": np.array(a["trainEnd"], dtype=np.int32)})',
    'print(json.dumps({str(f): cutoff_positions(ds, f).tolist() for f in a["fractions"]}))',
  ].join('\n');
  const fractions = [...cases.map(([f]) => f), 0.1, 0.33, 0.9];
  const py = JSON.parse(execFileSync(path.resolve('.tools/venv/bin/python'), ['-c', script], { input: JSON.stringify({ trainEnd: [...trainEnd], fractions }), encoding: 'utf8' })) as Record<string, number[]>;
  for (const f of fractions) assert.deepEqual([...knowledgeCutoffPositions(trainEnd, f)], py[String(f)], `f = ${f}`);
});

test('knowledgePrefix: the helpers read only positions below the cutoff; f = 0 is the sequences themselves', () => {
  // One user, 8 interactions, training part 0..5 (train_end 6): cutoff 0.5 → positions 0..2.
  const seq: Sequences = { offsets: Float64Array.from([0, 8]), item: Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), rating: Int8Array.from([5, 4, 3, 2, 1, 5, 4, 3]), trainEnd: Int32Array.from([6]) };
  assert.equal(knowledgePrefix(seq, 0), seq);
  assert.deepEqual(latestTrainingInteractions(knowledgePrefix(seq, 0.5), 0, 10).map((x) => x.pos), [0, 1, 2]);
  assert.deepEqual(latestTrainingInteractions(seq, 0, 10).map((x) => x.pos), [0, 1, 2, 3, 4, 5]);
});

test('refine key: the cutoff is in it only when on', () => {
  const slice = (f: number) => refineConfigSlice(R4ecConfigSchema.parse({ train: { knowledgeCutoff: f } }), 'user');
  assert.deepEqual(slice(0), refineConfigSlice(R4ecConfigSchema.parse({}), 'user'));
  assert.ok(!('knowledgeCutoff' in slice(0)));
  assert.equal(slice(0.5).knowledgeCutoff, 0.5);
  assert.notDeepEqual(slice(0.5), slice(0.25));
});

test('encode: approximated users average only their prefix items under a cutoff; the key names the cutoff only when on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-cutoff-encode-'));
  try {
    const store = new LocalStore(join(dir, 'store'));
    const { ingest, view } = await ingestSynthetic(store, { users: 12, items: 60, seed: 3 });
    const seq = await view.sequences();
    const full = await loadEncodeDataset(store, ingest.key, { sequences: true });
    const cut = await loadEncodeDataset(store, ingest.key, { sequences: true, knowledgeCutoff: 0.5 });
    for (let u = 0; u < view.meta.users.length; u++) {
      const c = Math.floor(seq.trainEnd[u]! * 0.5);
      assert.deepEqual([...cut.trainingItems(u)], [...full.trainingItems(u)].slice(0, c), `user ${u}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const key = (knowledgeCutoff?: number) => encodeStageKey({ sets: ['kar'], encoder: { model: 'm' }, refineHash: 'r', ingestHash: 'i', knowledgeCutoff });
  assert.equal(key(0), key(undefined));
  assert.notEqual(key(0.5), key(undefined));
});
