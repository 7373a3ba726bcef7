// trainBackbonesWorkflow on a real dev server with the Python trainer: the floor and a backbone for
// both feature sets, the summary block of the CLI contract, the stage output the report reads, a
// skipped rerun, and a lookup-only run for inputs that were never trained.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TrainSummary } from '../../core/ctr';
import type { StageResult } from '../../workflows/stage-types';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { makeCtrFixture, skipWithoutTrainer, SMALL_TRAIN, VENV_PYTHON, type CtrFixture } from './fixtures';

describe('trainBackbonesWorkflow', { skip: skipWithoutTrainer() }, () => {
  let t: TestTemporal;
  let f: CtrFixture;
  before(async () => {
    [t, f] = await Promise.all([startTestTemporal(), makeCtrFixture()]);
  });
  after(async () => {
    await t?.close();
    f?.cleanup();
  });

  const config = testConfig({ train: { ...SMALL_TRAIN, backbones: ['dcn'], variants: ['base'], featureSets: ['full'] } });
  const deps = () => ({ store: f.store, stateDir: f.stateDir, python: VENV_PYTHON });
  const start = (cfg: typeof config, id: string, extra: object = {}) =>
    t.client.workflow.execute('trainBackbonesWorkflow', {
      taskQueue: cfg.queues.cpu.name,
      workflowId: id,
      args: [{ runId: id, config: cfg, artifacts: { ingest: f.ingest }, ...extra }],
    }) as Promise<StageResult<TrainSummary>>;

  test('floor + backbone for both feature sets; summary and stage output; a rerun is skipped', async () => {
    await withWorkers(t, { queues: ['cpu', 'gpu'], config, deps: deps() }, async ({ config: cfg }) => {
      const res = await start(cfg, 'train-wf-1');
      assert.equal(res.skipped, false);
      const s = res.summary;
      assert.equal(s.features, 'paper');
      assert.ok(s.floor && s.floor.auc > 0.5 && s.floor.logloss > 0);
      assert.deepEqual(Object.keys(s.results), ['dcn']);
      assert.deepEqual(Object.keys(s.byFeatures).sort(), ['full', 'paper']);
      assert.deepEqual(s.results, s.byFeatures.paper);
      for (const table of [s.byFeatures.paper!, s.byFeatures.full!]) {
        const r = table.dcn!.base!;
        assert.ok(r.auc > 0.5 && r.auc <= 1 && r.logloss > 0, JSON.stringify(r));
      }
      assert.equal(s.models, 3);

      const key = res.artifact.key;
      const files = (await f.store.list(`${key}/`)).map((k) => k.slice(key.length + 1));
      for (const name of ['summary.json', 'models.json', 'floor/metrics.json', 'dcn/base/seed-1/test_pred.npy', 'dcn/base/seed-1/model.json', 'features-full/dcn/base/seed-1/metrics.json']) {
        assert.ok(files.includes(name), `${name} in ${files.join(', ')}`);
      }
      assert.ok(!files.includes('features-full/dcn/base/seed-1/test_pred.npy'), 'only the primary set carries predictions for the report');
      const models = JSON.parse((await f.store.get(`${key}/models.json`)).toString()) as Record<string, string>;
      assert.ok(await f.store.exists(`${models['full/dcn/base/seed-1']}/model.onnx`), 'each model keeps its ONNX file under its own key');

      const again = await start(cfg, 'train-wf-2');
      assert.equal(again.skipped, true);
      assert.deepEqual(again.artifact, res.artifact);
      assert.deepEqual(again.summary, s);

      // Unselected in a run (lookup only) and never trained for these inputs: fail, never compute.
      const other = { ...cfg, train: { ...cfg.train, epochs: 3 } };
      await assert.rejects(start(other, 'train-wf-3', { lookupOnly: true }), (e: unknown) => {
        assert.ok(e instanceof WorkflowFailedError);
        // The plan activity decides (planStage): its failure is the cause of the activity's.
        const failure = (e.cause as Error | undefined)?.cause;
        assert.ok(failure instanceof ApplicationFailure && failure.type === 'StageOutputMissing', String(failure));
        assert.match(failure.message, /no output train\/\S+ for these inputs/);
        return true;
      });
    });
  });
});
