// trainBackbone in a mock activity context, through the real Python trainer: heartbeats carry the
// trainer's epoch and checkpoint, the output is committed under the job's key and reused, bad
// vectors fail non-retryably before training, and — the serving path — onnxruntime-node scores the
// test split with the exported model to the trainer's AUC (1e-4) and probabilities (1e-5).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createTrainActivities, type TrainBackboneInput, type TrainBackboneOutput } from '../../activities/train';
import { TrainSchema } from '../../config/schema';
import { CtrModelInfoSchema, scoreTestSplit } from '../../core/ctr';
import { decodeNpy } from '../../core/data/npy';
import { StageOutput } from '../../core/store';
import { makeCtrFixture, skipWithoutTrainer, SMALL_TRAIN, VENV_PYTHON, writeFakeEncode, type Artifact, type CtrFixture } from './fixtures';

describe('trainBackbone activity', { skip: skipWithoutTrainer() }, () => {
  let f: CtrFixture;
  let encode: Artifact;
  before(async () => {
    f = await makeCtrFixture();
    encode = await writeFakeEncode(f, { sets: ['kar'] });
  });
  after(() => f?.cleanup());

  const run = (input: TrainBackboneInput, beats: unknown[] = []) => {
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const acts = createTrainActivities({ store: f.store, stateDir: f.stateDir, env: process.env, python: VENV_PYTHON });
    return env.run(acts.trainBackbone, input) as Promise<TrainBackboneOutput>;
  };
  const train = TrainSchema.parse(SMALL_TRAIN);

  async function checkOnnxParity(r: TrainBackboneOutput): Promise<void> {
    const info = CtrModelInfoSchema.parse(JSON.parse((await f.store.get(`${r.key}/model.json`)).toString()));
    const scored = await scoreTestSplit(info, {
      ingest: (name) => f.store.get(`${f.ingest.key}/${name}`),
      model: (name) => f.store.get(`${r.key}/${name}`),
    });
    const metrics = JSON.parse((await f.store.get(`${r.key}/metrics.json`)).toString()) as { auc: number; logloss: number };
    assert.ok(Math.abs(scored.auc - metrics.auc) < 1e-4, `ONNX AUC ${scored.auc} vs trainer ${metrics.auc}`);
    assert.ok(Math.abs(scored.logloss - metrics.logloss) < 1e-4, `ONNX LogLoss ${scored.logloss} vs trainer ${metrics.logloss}`);
    const trainerProbs = decodeNpy(await f.store.get(`${r.key}/test_pred.npy`)).data as Float32Array;
    assert.equal(scored.probs.length, trainerProbs.length);
    let worst = 0;
    for (let i = 0; i < trainerProbs.length; i++) worst = Math.max(worst, Math.abs(scored.probs[i]! - trainerProbs[i]!));
    assert.ok(worst < 1e-5, `largest probability difference ${worst}`);
  }

  test('full features (user id + numeric inputs): committed, heartbeated, reused, ONNX parity', async () => {
    const beats: Array<{ event?: string; epoch?: number; checkpoint?: string }> = [];
    const input = { runId: 'r1', train, ingest: f.ingest, job: { model: 'dien', features: 'full', variant: 'base', seed: 1 } } as const;
    const r = await run(input, beats as unknown[]);
    assert.equal(r.skipped, false);
    assert.ok(await new StageOutput(f.store, r.key).isComplete());
    assert.ok(r.metrics.auc > 0.5 && r.metrics.logloss > 0);
    assert.ok(beats.some((b) => b.event === 'epoch' && b.epoch === 2));
    assert.ok(beats.some((b) => b.checkpoint?.endsWith('ckpt-epoch-0002.pt')));
    for (const name of ['model.onnx', 'model.json', 'metrics.json', 'test_pred.npy', 'test_dense.npy', 'weights.pt']) {
      assert.ok(await f.store.exists(`${r.key}/${name}`), name);
    }
    await checkOnnxParity(r);
    const again = await run(input);
    // The reused output is the trained one; how the training ran (resumed from which epoch) is not part of it.
    const { resumedFromEpoch, ...trained } = r;
    assert.equal(resumedFromEpoch, 0, 'trained from scratch');
    assert.deepEqual({ ...again, skipped: false }, trained);
    assert.equal(again.skipped, true);
  });

  test('knowledge variant: the vector tables are baked into the ONNX model, parity holds', async () => {
    const r = await run({ runId: 'r1', train, ingest: f.ingest, encode, job: { model: 'fignn', features: 'paper', variant: 'kar', seed: 1 } });
    const info = CtrModelInfoSchema.parse(JSON.parse((await f.store.get(`${r.key}/model.json`)).toString()));
    assert.deepEqual(info.onnx.inputs.map((i) => i.feature), ['item', 'cat', 'hist_item', 'hist_cat', 'hist_rating', 'user']);
    await checkOnnxParity(r);
  });

  test('cancelled after epoch 1 (trainer killed in epoch 2): the next attempt resumes from the epoch-1 checkpoint', async () => {
    const input = { runId: 'r1', train: TrainSchema.parse({ ...SMALL_TRAIN, epochs: 3, patience: 3 }), ingest: f.ingest, job: { model: 'gru4rec', features: 'paper', variant: 'base', seed: 1 } } as const;
    const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const first: Array<{ event?: string; epoch?: number }> = [];
    env.on('heartbeat', (d: { event?: string; epoch?: number }) => {
      first.push(d);
      if (d.event === 'checkpoint' && d.epoch === 1) env.cancel();
    });
    const acts = createTrainActivities({ store: f.store, stateDir: f.stateDir, env: process.env, python: VENV_PYTHON });
    await assert.rejects(env.run(acts.trainBackbone, input));
    assert.ok(first.some((b) => b.event === 'checkpoint' && b.epoch === 1));

    const second: Array<{ event?: string; epoch?: number }> = [];
    const r = await run(input, second as unknown[]);
    const resume = second.find((b) => b.event === 'resume');
    assert.ok(resume && resume.epoch! >= 1, JSON.stringify(second.slice(0, 5)));
    const trained = second.filter((b) => b.event === 'epoch').map((b) => b.epoch);
    assert.ok(!trained.includes(1), `epoch 1 trained again: ${trained.join(',')}`);
    // On a loaded machine the cancel can land an epoch late: then the resume starts later, but no
    // epoch up to its checkpoint is trained again and the job still ends with epoch 3.
    assert.ok(trained.every((e) => e! > resume.epoch!), `an epoch up to the checkpoint (${resume.epoch}) trained again: ${trained.join(',')}`);
    assert.ok(trained.includes(3) || resume.epoch! >= 3, `the resumed attempt ends with epoch 3: resumed at ${resume.epoch}, trained ${trained.join(',')}`);
    assert.ok(r.metrics.auc > 0.5, `auc ${r.metrics.auc}`);
  });

  test('NaN in a vector file: non-retryable DataError naming the file, nothing committed', async () => {
    const bad = await writeFakeEncode(f, { sets: ['r4ec'], tag: 'nan', corrupt: (_s, _u, item) => (item[8 * 3 + 1] = Number.NaN) });
    const before = await f.store.list('train-model/');
    await assert.rejects(run({ runId: 'r1', train, ingest: f.ingest, encode: bad, job: { model: 'dcn', features: 'paper', variant: 'r4ec', seed: 1 } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure, String(e));
      assert.equal(e.type, 'DataError');
      assert.equal(e.nonRetryable, true);
      assert.match(e.message, /paper\/dcn\/r4ec\/seed-1: knowledge set r4ec: item vectors .*item\.npy\): 1 row\(s\) hold NaN .* row 3, column 1/);
      return true;
    });
    assert.deepEqual(await f.store.list('train-model/'), before);
  });

  test('an ingest output without a required array: non-retryable DataError before the trainer starts', async () => {
    const broken = { key: 'ingest/missing', contentHash: 'x' };
    await f.store.put('ingest/missing/meta.json', (await f.store.get(`${f.ingest.key}/meta.json`)));
    await assert.rejects(run({ runId: 'r1', train, ingest: broken, job: { model: 'floor' } }), (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure && e.type === 'DataError' && e.nonRetryable);
      assert.match(e.message, /the ingest output ingest\/missing has no train\/user\.npy/);
      return true;
    });
  });
});
