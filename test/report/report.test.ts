// The report stage's content: writeReport (in a mock activity context, over a real store) turns a
// train summary written by hand into Table 2 — rows in backbone and variant order, the relative
// change of each knowledge variant against its backbone's base row, mean ± std over seeds, the
// non-neural floor as its own row — in report.json, and report.html shows the same cells. AUC by
// segment is computed from the models' test predictions (here perfect and inverted ones).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReportActivities, type WriteReportOutput } from '../../activities/report';
import { encodeNpy } from '../../core/data/npy';
import { ITEM_BUCKETS, USER_BUCKETS } from '../../core/report/metrics';
import type { ReportData } from '../../core/report/model';
import { LocalStore, StageOutput } from '../../core/store';
import { ingestSynthetic, type IngestedSynthetic } from '../helpers/dataset';

const root = mkdtempSync(join(tmpdir(), 'r4ec-report-'));
after(() => rmSync(root, { recursive: true, force: true }));
const store = new LocalStore(join(root, 'store'));
const acts = createReportActivities({ store, stateDir: root, env: {} });
const write = (report: object): Promise<WriteReportOutput> => new MockActivityEnvironment().run(acts.writeReport, { report } as never) as Promise<WriteReportOutput>;

/** What the train stage reported, out of canonical order on purpose (the report sorts). */
const TRAIN = {
  features: 'paper',
  floor: { auc: 0.6512, logloss: 0.6634 },
  results: {
    deepfm: {
      r4ec: { auc: 0.72, logloss: 0.58, aucStd: 0.004, loglossStd: 0.003, seeds: 3 },
      base: { auc: 0.7, logloss: 0.6, aucStd: 0.002, loglossStd: 0.001, seeds: 3 },
      kar: { auc: 0.69, logloss: 0.61, aucStd: 0.003, loglossStd: 0.002, seeds: 3 },
    },
    dien: {
      r4ec: { auc: 0.735, logloss: 0.5712 },
      base: { auc: 0.7, logloss: 0.6 },
    },
  },
};

/** Table 2 as the paper prints it: backbone, variant, features, AUC, Δ AUC %, LogLoss, Δ LogLoss %, seeds. */
const EXPECTED_ROWS = [
  ['dien', 'base', 'paper', '0.7000', '', '0.6000', '', '1'],
  ['dien', 'r4ec', 'paper', '0.7350', '+5.00%', '0.5712', '-4.80%', '1'],
  ['deepfm', 'base', 'paper', '0.7000 ± 0.0020', '', '0.6000 ± 0.0010', '', '3'],
  ['deepfm', 'kar', 'paper', '0.6900 ± 0.0030', '-1.43%', '0.6100 ± 0.0020', '+1.67%', '3'],
  ['deepfm', 'r4ec', 'paper', '0.7200 ± 0.0040', '+2.86%', '0.5800 ± 0.0030', '-3.33%', '3'],
];

let data: IngestedSynthetic;
let trainKey: string;
let labels: Int8Array;
before(async () => {
  data = await ingestSynthetic(store, { users: 40, items: 60, seed: 4 });
  const test = await data.view.samples('test');
  labels = Int8Array.from(test.label);
  // The train output the report reads predictions from: base predicts every label, r4ec the opposite.
  const out = new StageOutput(store, 'train/report-test');
  await out.put('deepfm/base/seed-1/test_pred.npy', encodeNpy(Float32Array.from(labels, (l) => (l ? 0.9 : 0.1))));
  await out.put('deepfm/r4ec/seed-1/test_pred.npy', encodeNpy(Float32Array.from(labels, (l) => (l ? 0.1 : 0.9))));
  await out.putJson('summary.json', TRAIN);
  await out.commit('train');
  trainKey = out.key;
});

function input(over: object = {}) {
  return {
    runId: 'report-run',
    datasetKind: 'synthetic',
    simulator: true,
    stages: { ingest: { status: 'completed', seconds: 1.5, skipped: false }, train: { status: 'completed', seconds: 42.25, skipped: false } },
    ingest: data.view.meta.counts,
    construct: { outcomes: { user: { kept_reason: 5, kept_refine: 2, failed_format: 1 }, item: { kept_reason: 7 } } },
    refine: { outcomes: { user: { accepted_first: 30, budget_exhausted: 10 } } },
    train: TRAIN,
    llm: { calls: 1234, cacheHits: 56, promptTokens: 789_000, completionTokens: 123_456 },
    artifacts: { ingest: data.ingest.key, train: trainKey },
    ...over,
  };
}

/** The text of each cell of each row of the first <table> after `heading`. */
function tableAfter(html: string, heading: string): string[][] {
  const start = html.indexOf(heading);
  assert.ok(start >= 0, `no "${heading}" in report.html`);
  const table = html.slice(html.indexOf('<table>', start), html.indexOf('</table>', start));
  const text = (s: string) => s.replace(/<[^>]+>/g, '').replace(/&amp;/g, '&').replace(/\s+/g, ' ').trim();
  return [...table.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((m) => [...m[1]!.matchAll(/<t[dh][^>]*>([\s\S]*?)<\/t[dh]>/g)].map((c) => text(c[1]!)));
}

test('Table 2: rows in backbone × variant order, deltas against the base row, mean ± std, the floor row; report.html shows the same cells', async () => {
  const r = await write(input());
  assert.equal(r.skipped, false);
  const json = JSON.parse((await store.get(r.jsonKey)).toString()) as ReportData;
  const html = (await store.get(r.htmlKey)).toString();

  assert.deepEqual(
    json.table.map((row) => [row.backbone, row.variant]),
    EXPECTED_ROWS.map((row) => [row[0], row[1]]),
  );
  const close = (a: number | undefined, b: number, what: string) => assert.ok(a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
  const byId = (b: string, v: string) => json.table.find((row) => row.backbone === b && row.variant === v)!;
  close(byId('deepfm', 'r4ec').relAuc, ((0.72 - 0.7) / 0.7) * 100, 'deepfm r4ec Δ AUC');
  close(byId('deepfm', 'r4ec').relLogloss, ((0.58 - 0.6) / 0.6) * 100, 'deepfm r4ec Δ LogLoss');
  close(byId('deepfm', 'kar').relAuc, ((0.69 - 0.7) / 0.7) * 100, 'a variant worse than base is a negative change');
  close(byId('dien', 'r4ec').relAuc, 5, 'dien r4ec Δ AUC');
  close(byId('dien', 'r4ec').relLogloss, -4.8, 'dien r4ec Δ LogLoss');
  for (const b of ['dien', 'deepfm']) assert.equal(byId(b, 'base').relAuc, undefined, 'the base row has no delta');
  assert.deepEqual(byId('deepfm', 'r4ec').auc, { mean: 0.72, std: 0.004, n: 3 });
  assert.deepEqual(byId('dien', 'r4ec').logloss, { mean: 0.5712, std: 0, n: 1 });
  assert.deepEqual(json.floor, TRAIN.floor);

  const rows = tableAfter(html, "the paper's Table 2");
  assert.deepEqual(rows[0], ['backbone', 'variant', 'features', 'AUC', 'Δ AUC vs base', 'LogLoss', 'Δ LogLoss vs base', 'seeds']);
  assert.deepEqual(rows.slice(1, -1), EXPECTED_ROWS);
  assert.deepEqual(rows.at(-1), ['non-neural floor (logistic regression, 4 features)', '0.6512', '', '0.6634', '', '1']);
  // The AUC chart has a bar for every row and the floor.
  for (const label of ['dien · base', 'deepfm · r4ec', 'floor (LR)']) assert.ok(html.includes(`>${label}</text>`), `no bar for ${label}`);
});

test('AUC by segment from the test predictions; outcomes, LLM cost, stages and the simulator banner', async () => {
  const r = await write(input());
  const json = JSON.parse((await store.get(r.jsonKey)).toString()) as ReportData;
  const html = (await store.get(r.htmlKey)).toString();

  // Each test sample's segment, from the dataset: its user's training interactions, its item's.
  const test = await data.view.samples('test');
  const seq = await data.view.sequences();
  const userCount = Array.from(test.user, (u) => seq.trainEnd[u]!);
  const itemCount = Array.from(test.item, (i) => data.view.meta.items[i - 1]!.trainCount);
  const expected = (counts: number[], buckets: typeof USER_BUCKETS, perfect: boolean) =>
    buckets.map((b) => {
      const inside = labels.filter((_, s) => counts[s]! >= b.range[0] && counts[s]! < b.range[1]);
      const both = inside.includes(1) && inside.includes(0);
      return { bucket: b.name, samples: inside.length, auc: both ? (perfect ? 1 : 0) : null };
    });
  for (const [groups, counts, buckets] of [
    [json.userBuckets, userCount, USER_BUCKETS],
    [json.itemBuckets, itemCount, ITEM_BUCKETS],
  ] as const) {
    assert.deepEqual(groups.map((g) => `${g.backbone}/${g.variant}`).sort(), ['deepfm/base', 'deepfm/r4ec']);
    for (const g of groups) assert.deepEqual(g.results, expected(counts, buckets, g.variant === 'base'));
    assert.ok(groups[0]!.results.some((b) => b.auc !== null), 'some segment has both labels');
    assert.equal(groups[0]!.results.reduce((a, b) => a + b.samples, 0), test.n, 'every test sample is in one segment');
  }

  assert.deepEqual(tableAfter(html, 'Construction outcomes'), [
    ['domain', 'kept_reason', 'kept_refine', 'failed_format', 'total'],
    ['user', '5', '2', '1', '8'],
    ['item', '7', '0', '0', '7'],
  ]);
  assert.deepEqual(tableAfter(html, 'Refinement outcomes').at(-1), ['user', '30', '10', '40']);
  assert.match(html, /1,234 requests sent, 56 cache hits, 789,000 prompt \+ 123,456 completion tokens/);
  assert.deepEqual(tableAfter(html, 'Wall time per stage').slice(1), [
    ['ingest', 'completed', '1.5 s'],
    ['train', 'completed', '42.3 s'],
  ]);
  assert.match(html, /produced by the offline <b>LLM simulator<\/b>/);
  assert.equal(json.simulator, true);
  assert.deepEqual(json.dataset, { kind: 'synthetic', counts: data.view.meta.counts });

  const real = await write(input({ simulator: false }));
  assert.ok(!(await store.get(real.htmlKey)).toString().includes('LLM simulator'), 'no banner when real models answered');
});

test('the report key follows its content, not its timings: same content is skipped, new results get a new report', async () => {
  const first = await write(input());
  const slower = await write(input({ stages: { ingest: { status: 'completed', seconds: 99, skipped: false }, train: { status: 'completed', seconds: 1, skipped: false } } }));
  assert.equal(slower.skipped, true);
  assert.equal(slower.key, first.key);
  const changed = await write(input({ train: { ...TRAIN, floor: { auc: 0.66, logloss: 0.65 } } }));
  assert.equal(changed.skipped, false);
  assert.notEqual(changed.key, first.key);
  const json = JSON.parse((await store.get(changed.jsonKey)).toString()) as ReportData;
  assert.deepEqual(json.floor, { auc: 0.66, logloss: 0.65 });

  // A run without trained models (e.g. --until refine) says so instead of an empty table.
  const none = await write(input({ train: undefined, artifacts: { ingest: data.ingest.key } }));
  const html = (await store.get(none.htmlKey)).toString();
  assert.match(html, /No trained models in this run\./);
  assert.deepEqual((JSON.parse((await store.get(none.jsonKey)).toString()) as ReportData).table, []);
});
