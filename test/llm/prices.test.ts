// Money: the price table (built-in defaults under configured prices), dated snapshot names, the
// batch discount, cost summaries over usage records, and the dry-run's money per stage and role.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { estimateMoney, priceRows, type EstimateRow } from '../../core/estimate';
import { costUsd, DEFAULT_PRICES, formatUsd, priceFor, priceTable, summarizeCost, type PricedCall } from '../../core/llm/prices';

test('prices: exact names, dated snapshots, configured entries over the defaults, unknown models', () => {
  const table = priceTable({ 'gpt-4o': { inputPerMTok: 2, outputPerMTok: 8, batchDiscount: 0.5 }, 'my-vllm-model': { inputPerMTok: 0.1, outputPerMTok: 0.1, batchDiscount: 0 } });
  assert.deepEqual(priceFor('gpt-4o', table), { inputPerMTok: 2, outputPerMTok: 8, batchDiscount: 0.5 });
  assert.deepEqual(priceFor('gpt-4o-2024-08-06', table), table['gpt-4o']);
  assert.deepEqual(priceFor('gpt-4o-2024-05-13', table), DEFAULT_PRICES['gpt-4o-2024-05-13'], 'a snapshot with its own price keeps it');
  assert.deepEqual(priceFor('gpt-4o-mini-2024-07-18', table), DEFAULT_PRICES['gpt-4o-mini']);
  assert.deepEqual(priceFor('gpt-3.5-turbo-0125', table), DEFAULT_PRICES['gpt-3.5-turbo']);
  assert.equal(priceFor('r4ec-sim', table), undefined);
  assert.equal(priceFor('toString', table), undefined, 'no prototype keys');
  assert.deepEqual(priceFor('my-vllm-model', table), { inputPerMTok: 0.1, outputPerMTok: 0.1, batchDiscount: 0 });
  for (const m of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-3.5-turbo']) assert.ok(DEFAULT_PRICES[m], m);
});

test('cost: per million tokens, half on the batch path; summaries skip cache hits and free models and name unpriced ones', () => {
  const gpt4o = DEFAULT_PRICES['gpt-4o']!;
  assert.equal(costUsd({ promptTokens: 1_000_000, completionTokens: 1_000_000 }, gpt4o), 12.5);
  assert.equal(costUsd({ promptTokens: 1_000_000, completionTokens: 1_000_000 }, gpt4o, 'batch'), 6.25);
  const calls: PricedCall[] = [
    { stage: 'construct', role: 'teacher', model: 'gpt-4o', cacheHit: false, promptTokens: 400_000, completionTokens: 100_000 },
    { stage: 'construct', role: 'teacher', model: 'gpt-4o', cacheHit: false, promptTokens: 400_000, completionTokens: 100_000, batch: true },
    { stage: 'construct', role: 'teacher', model: 'gpt-4o', cacheHit: true, promptTokens: 0, completionTokens: 0 },
    { stage: 'refine', role: 'actor', model: 'r4ec-sim', cacheHit: false, promptTokens: 5000, completionTokens: 5000 },
    { stage: 'refine', role: 'reflection', model: 'mystery', cacheHit: false, promptTokens: 10, completionTokens: 10 },
  ];
  const s = summarizeCost(calls, priceTable(), (m) => m === 'r4ec-sim');
  assert.ok(Math.abs(s.total.usd - (2 + 1)) < 1e-9, String(s.total.usd));
  assert.deepEqual(s.total.unpriced, ['mystery']);
  assert.ok(Math.abs(s.byStageRole['construct/teacher']!.usd - 3) < 1e-9);
  assert.equal(s.byStageRole['refine/actor'], undefined);
  assert.deepEqual(s.byRole.reflection, { usd: 0, unpriced: ['mystery'] });
  assert.equal(formatUsd(0), '$0');
  assert.equal(formatUsd(0.004), '<$0.01');
  assert.equal(formatUsd(12.345), '$12.35');
  assert.equal(formatUsd(12345.6), '$12,346');
});

test('config: llm.prices, llm.cap.maxUsd and llm.teacher.batch validate with defaults', () => {
  const c = R4ecConfigSchema.parse({ llm: { teacher: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o' }, cap: { maxUsd: 25 }, prices: { 'x-model': { inputPerMTok: 1, outputPerMTok: 3 } } } });
  assert.deepEqual(c.llm.teacher!.batch, { enabled: false, completionWindow: '24h', maxRequestsPerFile: 50_000, pollIntervalSeconds: 60 });
  assert.equal(c.llm.cap.maxUsd, 25);
  assert.deepEqual(c.llm.prices['x-model'], { inputPerMTok: 1, outputPerMTok: 3, batchDiscount: 0.5 });
  for (const bad of [
    { llm: { teacher: { baseUrl: 'https://x/v1', model: 'm', batch: { maxRequestsPerFile: 50_001 } } } },
    { llm: { teacher: { baseUrl: 'https://x/v1', model: 'm', batch: { completionWindow: '1h' } } } },
    { llm: { prices: { m: { inputPerMTok: -1, outputPerMTok: 1 } } } },
    { llm: { cap: { maxUsd: 0 } } },
  ]) {
    assert.equal(R4ecConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('dry-run money: each row at its role model price, teacher rows (construct and kar) on both paths, the simulator free, totals per stage and role', () => {
  const row = (stage: 'construct' | 'refine', role: 'teacher' | 'actor' | 'reflection'): Omit<EstimateRow, 'model' | 'simulator' | 'usdSync' | 'usdBatch'> => ({
    stage,
    domain: 'user',
    role,
    entities: 10,
    callsMin: 10,
    callsMax: 30,
    promptTokens: 1_000_000,
    completionTokens: 200_000,
  });
  const config = R4ecConfigSchema.parse({ llm: { teacher: { baseUrl: 'https://api.openai.com/v1', model: 'gpt-4o', batch: { enabled: true } }, actor: { baseUrl: 'http://vllm:8000/v1', model: 'my-lora' } } });
  const rows = priceRows(config, [row('construct', 'teacher'), row('construct', 'teacher'), row('refine', 'teacher'), row('refine', 'actor'), row('refine', 'reflection')]);
  assert.deepEqual(rows[0], { ...row('construct', 'teacher'), model: 'gpt-4o', simulator: false, usdSync: 4.5, usdBatch: 2.25 });
  assert.deepEqual([rows[3]!.usdSync, rows[3]!.usdBatch, rows[3]!.simulator], [null, null, false], 'an unpriced model is unknown, not free; actors do not batch');
  assert.deepEqual([rows[4]!.usdSync, rows[4]!.usdBatch, rows[4]!.simulator, rows[4]!.model], [0, null, true, 'r4ec-sim']);
  assert.deepEqual([rows[2]!.usdSync, rows[2]!.usdBatch], [4.5, 2.25], "refine's teacher (kar) at the batch price too");
  const m = estimateMoney(config, rows);
  assert.deepEqual(m.byStageRole['construct/teacher'], { model: 'gpt-4o', simulator: false, usdSync: 9, usdBatch: 4.5 });
  assert.deepEqual(m.byStageRole['refine/teacher'], { model: 'gpt-4o', simulator: false, usdSync: 4.5, usdBatch: 2.25 });
  assert.equal(m.total.sync, null, 'one unpriced role makes the total unknown');
  const priced = R4ecConfigSchema.parse({ ...config, llm: { ...config.llm, prices: { 'my-lora': { inputPerMTok: 0, outputPerMTok: 0 } } } });
  const m2 = estimateMoney(priced, priceRows(priced, [row('construct', 'teacher'), row('refine', 'teacher'), row('refine', 'actor')]));
  assert.deepEqual(m2.total, { sync: 9, teacherBatch: 4.5, planned: 4.5 });
});
