// The run summary is the CLI contract (`r4ec run --json`, README "Commands"): the blocks each stage
// adds, the LLM totals, and the key order a script comparing outputs byte for byte sees.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { DatasetCountsSchema, summaryOf } from '../../core/data/meta';
import { reportInput } from '../../workflows/report-input';
import { emptySummary, recordConstruct, recordFailure, recordIngest, recordOutputs, recordRefine, recordReport, recordTiming, recordTrain } from '../../workflows/run-summary';

const art = (key: string) => ({ key, contentHash: `h-${key}` });
const usage = (calls: number) => ({ calls, cacheHits: 1, promptTokens: 10 * calls, completionTokens: 2 * calls });
const constructOutcomes = (kept: number) => ({ kept_reason: kept, kept_refine: 0, discard_correct_unreasonable: 0, discard_wrong_reasonable: 0, discard_refine_wrong: 0, failed_format: 0, failed_transport: 0, skipped_call_cap: 0 });
const refineOutcomes = (first: number) => ({ accepted_first: first, accepted_after_refine: 0, budget_exhausted: 0, approximated: 0, failed_format: 0, failed_transport: 0, skipped_call_cap: 0 });

// The ingest stage's own summary of its counts: the run summary carries it as it is.
const ingest = summaryOf(DatasetCountsSchema.parse({ users: 3, items: 4, train: 5, test: 6, trainPositive: 2, testPositive: 1, interactions: 20, allItems: 5, categories: 2 }));

function run() {
  const s = emptySummary('run-1', 'cfg');
  const timing = { status: 'completed' as const, seconds: 1, skipped: false };
  recordIngest(s, { artifact: art('ingest/a'), skipped: false, summary: ingest });
  recordOutputs(s, [['ingest', art('ingest/a')]]);
  recordTiming(s, 'ingest', timing);
  const c = (d: 'user' | 'item', n: number) => ({ artifact: art(`construct/${d}`), skipped: false, summary: { outcomes: constructOutcomes(n), llm: usage(n), records: { reason: n, reflect: n, refine: 0 }, sampled: n } });
  recordConstruct(s, { user: c('user', 2), item: c('item', 3) });
  recordOutputs(s, [['construct:user', art('construct/user')], ['construct:item', art('construct/item')]]);
  recordTiming(s, 'construct', timing);
  const r = (d: 'user' | 'item', n: number) => ({
    artifact: art(`refine/${d}`),
    skipped: true,
    summary: { domain: d, strategy: 'iterative' as const, entities: n, outcomes: refineOutcomes(n), llm: usage(0), failedSample: [], key: `refine/${d}`, runs: 0 },
  });
  recordRefine(s, { user: r('user', 4), item: r('item', 5) });
  recordOutputs(s, [['refine:user', art('refine/user')], ['refine:item', art('refine/item')]]);
  recordTiming(s, 'refine', { status: 'skipped', seconds: 0.5, skipped: true });
  recordTrain(s, { artifact: art('train/a'), skipped: false, summary: { features: 'paper', floor: { auc: 0.7, logloss: 0.6 }, results: {}, byFeatures: {}, models: 1 } });
  recordOutputs(s, [['train', art('train/a')]]);
  return s;
}

test('every block lands where the CLI contract says, in its order', () => {
  const s = run();
  assert.equal(
    JSON.stringify(s),
    '{"runId":"run-1","configHash":"cfg",' +
      '"stages":{"ingest":{"status":"completed","seconds":1,"skipped":false},"construct":{"status":"completed","seconds":1,"skipped":false},"refine":{"status":"skipped","seconds":0.5,"skipped":true}},' +
      '"llm":{"calls":5,"cacheHits":4,"promptTokens":50,"completionTokens":10},' +
      '"llmByStage":{"construct":{"calls":5,"cacheHits":2,"promptTokens":50,"completionTokens":10},"refine":{"calls":0,"cacheHits":2,"promptTokens":0,"completionTokens":0}},' +
      '"artifacts":{"ingest":{"key":"ingest/a","contentHash":"h-ingest/a"},"construct:user":{"key":"construct/user","contentHash":"h-construct/user"},"construct:item":{"key":"construct/item","contentHash":"h-construct/item"},"refine:user":{"key":"refine/user","contentHash":"h-refine/user"},"refine:item":{"key":"refine/item","contentHash":"h-refine/item"},"train":{"key":"train/a","contentHash":"h-train/a"}},' +
      `"ingest":${JSON.stringify(ingest)},` +
      `"construct":{"outcomes":{"user":${JSON.stringify(constructOutcomes(2))},"item":${JSON.stringify(constructOutcomes(3))}}},` +
      `"refine":{"outcomes":{"user":${JSON.stringify(refineOutcomes(4))},"item":${JSON.stringify(refineOutcomes(5))}}},` +
      '"train":{"features":"paper","floor":{"auc":0.7,"logloss":0.6},"results":{},"byFeatures":{},"models":1}}',
  );
  recordReport(s, { artifact: art('report/a'), skipped: false, summary: { html: 'report/a/report.html', json: 'report/a/report.json' } });
  recordFailure(s, 'report', 2, 'boom');
  assert.deepEqual(Object.keys(s).slice(-2), ['report', 'error']);
  assert.equal(s.error, 'report: boom');
  assert.deepEqual(s.stages.report, { status: 'failed', seconds: 2, skipped: false });
});

test('the report input carries the summary blocks and says when the simulator wrote the knowledge', () => {
  const s = run();
  const config = R4ecConfigSchema.parse({});
  const input = reportInput(config, s);
  assert.equal(input.simulator, true);
  assert.deepEqual(input.construct, s.construct);
  assert.deepEqual(input.refine, s.refine);
  assert.deepEqual(input.ingest, s.ingest);
  assert.deepEqual(input.train, s.train);
  assert.deepEqual(input.artifacts, { ingest: 'ingest/a', train: 'train/a' });
  assert.equal(input.datasetKind, config.dataset.kind);
  const bare = reportInput(config, { ...s, construct: undefined, refine: undefined });
  assert.equal(bare.simulator, false, 'no knowledge stage ran: nothing came from the simulator');
});
