// Money in the run summary and the report: the run's usage records (as the clients write them to the
// shared store) priced at llm.prices — batch answers at the batch price, cache hits and the
// simulator's model free, a model without a price named — land next to each stage's tokens in the
// run summary, and in report.json and the HTML report.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { R4ecConfigSchema } from '../../config/schema';
import { runMoney } from '../../core/llm/money';
import { UsageLedger, type UsageRecord } from '../../core/llm/usage';
import { buildReport } from '../../core/report/build';
import { renderHtml } from '../../core/report/html';
import { LocalStore } from '../../core/store';
import { reportInput } from '../../workflows/report-input';
import { emptySummary, recordLlm, recordMoney } from '../../workflows/run-summary';

const dir = mkdtempSync(join(tmpdir(), 'r4ec-money-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rec = (r: Partial<UsageRecord> & Pick<UsageRecord, 'stage' | 'role' | 'model'>): UsageRecord => ({
  at: new Date().toISOString(),
  runId: 'money-run',
  requestHash: Math.random().toString(36).slice(2),
  cacheHit: false,
  outcome: 'ok',
  promptTokens: 1_000_000,
  completionTokens: 100_000,
  latencyMs: 1,
  ...r,
});

test('money per stage and role from the usage records, in the run summary, report.json and the HTML report', async () => {
  const store = new LocalStore(join(dir, 'store'));
  const ledger = new UsageLedger(store);
  // gpt-4o: $2.5 in / $10 out per million tokens → a synchronous call of 1M + 0.1M tokens is $3.50, a batch one $1.75.
  await ledger.append(rec({ stage: 'construct', role: 'teacher', model: 'gpt-4o' }));
  await ledger.append(rec({ stage: 'construct', role: 'teacher', model: 'gpt-4o-2024-08-06', batch: true }));
  await ledger.append(rec({ stage: 'construct', role: 'teacher', model: 'gpt-4o', cacheHit: true }));
  await ledger.append(rec({ stage: 'refine', role: 'actor', model: 'r4ec-sim' }));
  await ledger.append(rec({ stage: 'refine', role: 'reflection', model: 'my-own-model' }));
  const config = R4ecConfigSchema.parse({ llm: { teacher: { baseUrl: 'http://127.0.0.1:1/v1', model: 'gpt-4o' }, reflection: { baseUrl: 'http://127.0.0.1:2/v1', model: 'my-own-model' }, simulator: { model: 'r4ec-sim' } } });

  const money = await runMoney(store, 'money-run', config.llm);
  assert.ok(Math.abs(money.total.usd - 5.25) < 1e-9, `${money.total.usd}`);
  assert.deepEqual(money.total.unpriced, ['my-own-model']);

  const s = emptySummary('money-run', 'h');
  recordLlm(s, 'construct', { calls: 2, cacheHits: 1, promptTokens: 2_000_000, completionTokens: 200_000 });
  recordLlm(s, 'refine', { calls: 2, cacheHits: 0, promptTokens: 2_000_000, completionTokens: 200_000, byRole: { actor: { calls: 1, cacheHits: 0, promptTokens: 1, completionTokens: 1 }, reflection: { calls: 1, cacheHits: 0, promptTokens: 1, completionTokens: 1 } } });
  recordMoney(s, money);
  assert.ok(Math.abs(s.llmByStage.construct!.usd! - 5.25) < 1e-9);
  assert.equal(s.llmByStage.refine!.usd, 0);
  assert.deepEqual(s.llmByStage.refine!.unpriced, ['my-own-model']);
  // The simulator's calls cost nothing (no entry); the unpriced model is named with $0 counted.
  assert.deepEqual(s.money!.byStageRole, { 'construct/teacher': 5.25, 'refine/reflection': 0 });

  const data = await buildReport(store, reportInput(config, s));
  assert.deepEqual(data.llm.money, { usd: 5.25, unpriced: ['my-own-model'] });
  const row = data.llm.usage.find((u) => u.stage === 'construct')!;
  assert.ok(Math.abs(row.usd! - 5.25) < 1e-9);
  assert.equal(data.llm.usage.find((u) => u.role === 'actor')!.usd, 0);
  const html = renderHtml(data);
  assert.match(html, /<th>USD<\/th>/);
  assert.match(html, /<b>\$5\.25<\/b> spent/);
  assert.match(html, /no price for my-own-model/);

  // A run from before money was counted: no USD column, no money line.
  const old = emptySummary('old', 'h');
  recordLlm(old, 'construct', { calls: 1, cacheHits: 0, promptTokens: 1, completionTokens: 1 });
  const oldHtml = renderHtml(await buildReport(store, reportInput(config, old)));
  assert.doesNotMatch(oldHtml, /USD/);
});
