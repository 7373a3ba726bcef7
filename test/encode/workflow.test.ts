// encodeKnowledgeWorkflow on a real dev server: vectors per set and domain aligned with the dataset's
// rows, the filter/approximation/zero-row rules, a skipped rerun, and a bad knowledge file failing
// the stage at once with its file and line.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { decodeNpy } from '../../core/data/npy';
import { OnnxEncoder } from '../../core/encode/model';
import type { EncodeSummary } from '../../core/encode/stage';
import { combineRefineOutputs } from '../../core/refine';
import { StageOutput } from '../../core/store';
import type { StageResult } from '../../workflows/stage-types';
import { startTestTemporal, testConfig, withWorkers, type TestTemporal } from '../helpers/temporal';
import { makeEncodeFixture, writeKnowledge, type Artifact, type EncodeFixture } from './fixtures';
import { ENCODER_DIR, skipWithoutEncoder } from './helpers';

describe('encodeKnowledgeWorkflow', { skip: skipWithoutEncoder() }, () => {
  let t: TestTemporal;
  let f: EncodeFixture;
  let refine: Artifact;
  before(async () => {
    [t, f] = await Promise.all([startTestTemporal(), makeEncodeFixture()]);
    refine = await writeKnowledge(f, { perItem: 2 });
  });
  after(async () => {
    await t?.close();
    f?.cleanup();
  });

  const config = testConfig({ encode: { modelDir: ENCODER_DIR, shardSize: 16, batchSize: 8 }, train: { variants: ['base', 'kar', 'r4ec'] } });
  const start = (cfg: typeof config, artifacts: Record<string, Artifact>, id: string) =>
    t.client.workflow.execute('encodeKnowledgeWorkflow', {
      taskQueue: cfg.queues.cpu.name,
      workflowId: id,
      args: [{ runId: id, config: cfg, artifacts }],
    }) as Promise<StageResult<EncodeSummary>>;

  test('encodes the sets the variants need, aligned with the dataset rows; a rerun is skipped', async () => {
    await withWorkers(t, { queues: ['cpu', 'gpu'], config, deps: { store: f.store, stateDir: f.stateDir } }, async ({ config: cfg }) => {
      const res = await start(cfg, { ingest: f.ingest, refine }, 'encode-wf-1');
      assert.equal(res.skipped, false);
      assert.deepEqual(Object.keys(res.summary.sets).sort(), ['kar', 'r4ec']);
      assert.equal(await new StageOutput(f.store, res.artifact.key).contentHash(), res.artifact.contentHash);

      const meta = f.view.meta;
      const U = meta.users.length;
      const I = meta.items.length;
      const load = async (name: string) => {
        const a = decodeNpy(await f.store.get(`${res.artifact.key}/${name}`));
        assert.equal(a.dtype, 'float32');
        return { rows: a.shape[0]!, dim: a.shape[1]!, data: a.data as Float32Array };
      };
      const users = await load('r4ec/user.npy');
      const items = await load('r4ec/item.npy');
      assert.deepEqual([users.rows, users.dim, items.rows, items.dim], [U, 384, I + 1, 384]);
      const ids = JSON.parse((await f.store.get(`${res.artifact.key}/r4ec/item.ids.json`)).toString()) as (string | null)[];
      assert.deepEqual(ids, [null, ...meta.items.map((i) => i.id)]);
      const r = (m: { data: Float32Array; dim: number }, i: number) => m.data.subarray(i * m.dim, (i + 1) * m.dim);
      const isZero = (v: Float32Array) => v.every((x) => x === 0);

      // Padding and items outside the entity set are zero; entity items are not.
      assert.ok(isZero(r(items, 0)));
      meta.items.forEach((it, j) => assert.equal(isZero(r(items, j + 1)), it.trainCount === 0, `item row ${j + 1}`));
      // User 1 has no record, user 2 only NaN samples: zero rows, counted.
      assert.ok(isZero(r(users, 1)) && isZero(r(users, 2)));
      const counts = res.summary.sets.r4ec!.user;
      assert.deepEqual(
        { without: counts.withoutKnowledge, missing: counts.missing, approx: counts.approximated, empty: counts.emptyTexts },
        { without: 2, missing: 1, approx: 1, empty: 2 },
      );
      assert.equal(res.summary.sets.r4ec!.item.withoutKnowledge, 0);

      // Approximated user 0: the mean of its training-part items' rows.
      const seq = await f.view.sequences();
      const hist = Array.from(seq.item.subarray(seq.offsets[0]!, seq.offsets[0]! + seq.trainEnd[0]!));
      const expected = new Float64Array(384);
      for (const i of hist) r(items, i).forEach((x, h) => (expected[h]! += x / hist.length));
      r(users, 0).forEach((x, h) => assert.ok(Math.abs(x - expected[h]!) < 1e-6, `user 0 dim ${h}`));

      // Filter strategy on r4ec: an item's row is the mean of its kept samples' vectors.
      const first = meta.items.findIndex((it) => it.trainCount > 0);
      const it = meta.items[first]!;
      const kept = [0].map((k) => `r4ec sample ${k}: ${it.title} is ${it.genres.join(' and ').toLowerCase()}, liked by critics.`);
      const enc = await OnnxEncoder.open(ENCODER_DIR);
      const v = await enc.encode(kept);
      await enc.close();
      r(items, first + 1).forEach((x, h) => assert.ok(Math.abs(x - v[h]!) < 1e-5, `kept mean dim ${h}`));

      const again = await start(cfg, { ingest: f.ingest, refine }, 'encode-wf-2');
      assert.equal(again.skipped, true);
      assert.deepEqual(again.artifact, res.artifact);
      assert.deepEqual(again.summary, res.summary);
    });
  });

  test('per-domain refine outputs are combined into the same content; lookupOnly finds or refuses', async () => {
    const parts = {} as Record<'user' | 'item', Artifact>;
    for (const d of ['user', 'item'] as const) {
      const out = new StageOutput(f.store, `refine/test-part-${d}`);
      for (const set of ['kar', 'r2ec', 'r4ec']) await out.put(`${set}/${d}.jsonl`, await f.store.get(`${refine.key}/${set}/${d}.jsonl`));
      parts[d] = { key: `refine/test-part-${d}`, contentHash: await out.commit('refine') };
    }
    // The refine stage merges its domains' outputs into the one output encode reads.
    const merged = await combineRefineOutputs(f.store, parts);
    const combined = { key: merged.key, contentHash: merged.contentHash };
    await withWorkers(t, { queues: ['cpu', 'gpu'], config, deps: { store: f.store, stateDir: f.stateDir } }, async ({ config: cfg }) => {
      const whole = await start(cfg, { ingest: f.ingest, refine }, 'encode-wf-whole');
      const split = await start(cfg, { ingest: f.ingest, refine: combined }, 'encode-wf-parts');
      // Keys follow content: the combined parts hold the same files as the whole, so nothing is redone.
      assert.deepEqual(split.artifact, whole.artifact);
      assert.equal(split.skipped, true);

      // Outside the run's selection the stage only looks its output up.
      const again = await t.client.workflow.execute('encodeKnowledgeWorkflow', {
        taskQueue: cfg.queues.cpu.name,
        workflowId: 'encode-wf-lookup',
        args: [{ runId: 'encode-wf-lookup', config: cfg, artifacts: { ingest: f.ingest, refine: combined }, lookupOnly: true }],
      });
      assert.equal((again as StageResult).skipped, true);
      const other = testConfig({ ...config, encode: { ...config.encode, modelDir: ENCODER_DIR }, train: { variants: ['r2ec'] } });
      await assert.rejects(
        t.client.workflow.execute('encodeKnowledgeWorkflow', {
          taskQueue: cfg.queues.cpu.name,
          workflowId: 'encode-wf-lookup-missing',
          args: [{ runId: 'x', config: { ...other, queues: cfg.queues }, artifacts: { ingest: f.ingest, refine: combined }, lookupOnly: true }],
        }),
        (err: unknown) => err instanceof WorkflowFailedError && /StageOutputMissing|does not exist/.test(String((err.cause as Error)?.message) + JSON.stringify(err.cause)),
      );
    });
  });

  test('a bad knowledge line fails the stage without retries, naming file, line and field', async () => {
    const out = new StageOutput(f.store, 'refine/test-bad');
    const good = (await f.store.get(`${refine.key}/kar/item.jsonl`)).toString();
    await out.put('kar/item.jsonl', good + JSON.stringify({ entityId: 'nope', index: 1, texts: [] }) + '\n');
    for (const [n, k] of [['kar/user.jsonl', 'kar/user.jsonl'], ['r4ec/user.jsonl', 'r4ec/user.jsonl'], ['r4ec/item.jsonl', 'r4ec/item.jsonl']] as const) {
      await out.put(n, await f.store.get(`${refine.key}/${k}`));
    }
    const bad = { key: 'refine/test-bad', contentHash: await out.commit('refine') };
    const line = good.split('\n').filter(Boolean).length + 1;
    await withWorkers(t, { queues: ['cpu', 'gpu'], config, deps: { store: f.store, stateDir: f.stateDir } }, async ({ config: cfg }) => {
      await assert.rejects(start(cfg, { ingest: f.ingest, refine: bad }, 'encode-wf-bad'), (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        const msg = String((err.cause as Error | undefined)?.cause ?? err.cause);
        assert.match(msg, new RegExp(`refine/test-bad/kar/item\\.jsonl:${line}: field "entityId"`));
        return true;
      });
    });
  });
});
