// Money: what tokens cost per model, for the dry-run estimate, the run summary, the report and the
// money cap. Pure functions over a price table.
//
// The built-in table holds OpenAI's standard-tier list prices for common models, in USD per
// million tokens, as published on openai.com/api/pricing and taken on PRICES_TAKEN. They are
// editable defaults, not a source of truth: prices change, and contracts differ. Set `llm.prices`
// in the config to correct or extend them; a configured entry replaces the built-in one.
import type { ModelPrice } from '../../config/schema';
import type { TokenUsage } from './types';

export type { ModelPrice } from '../../config/schema';

export const PRICES_TAKEN = '2026-11-27';

const p = (inputPerMTok: number, outputPerMTok: number): ModelPrice => ({ inputPerMTok, outputPerMTok, batchDiscount: 0.5 });

/** Editable defaults (see above); the Batch API takes 50 % off every one of them. */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o': p(2.5, 10),
  // The first gpt-4o snapshot kept its launch price.
  'gpt-4o-2024-05-13': p(5, 15),
  'gpt-4o-mini': p(0.15, 0.6),
  'gpt-4.1': p(2, 8),
  'gpt-4.1-mini': p(0.4, 1.6),
  'gpt-4.1-nano': p(0.1, 0.4),
  'gpt-4-turbo': p(10, 30),
  'gpt-4': p(30, 60),
  'gpt-3.5-turbo': p(0.5, 1.5),
  'gpt-5': p(1.25, 10),
  'gpt-5-mini': p(0.25, 2),
  'gpt-5-nano': p(0.05, 0.4),
  o3: p(2, 8),
  'o3-mini': p(1.1, 4.4),
  'o4-mini': p(1.1, 4.4),
};

export type PriceTable = Readonly<Record<string, ModelPrice>>;

/** The built-in prices with the configured ones on top. */
export function priceTable(configured: Readonly<Record<string, ModelPrice>> = {}): PriceTable {
  return { ...DEFAULT_PRICES, ...configured };
}

/**
 * The price of a model name: an exact entry, else the entry of its undated name
 * (`gpt-4o-2024-08-06` → `gpt-4o`, `gpt-3.5-turbo-0125` → `gpt-3.5-turbo`); undefined when unknown.
 */
export function priceFor(model: string, table: PriceTable): ModelPrice | undefined {
  if (Object.hasOwn(table, model)) return table[model];
  const undated = model.replace(/-(\d{4}-\d{2}-\d{2}|\d{4})$/, '');
  return undated !== model && Object.hasOwn(table, undated) ? table[undated] : undefined;
}

export type CallPath = 'sync' | 'batch';

/** USD for the tokens at this price, on the synchronous or the batch path. */
export function costUsd(tokens: TokenUsage, price: ModelPrice, path: CallPath = 'sync'): number {
  const factor = path === 'batch' ? 1 - price.batchDiscount : 1;
  return ((tokens.promptTokens * price.inputPerMTok + tokens.completionTokens * price.outputPerMTok) / 1e6) * factor;
}

export interface MoneyTotals {
  usd: number;
  /** Models that spent tokens but have no price: their tokens are not in `usd`. */
  unpriced: string[];
}

export interface MoneySummary {
  total: MoneyTotals;
  byStage: Record<string, MoneyTotals>;
  byRole: Record<string, MoneyTotals>;
  /** `${stage}/${role}` */
  byStageRole: Record<string, MoneyTotals>;
}

/** The fields of a usage record that money depends on. */
export interface PricedCall {
  stage: string;
  role: string;
  model: string;
  cacheHit: boolean;
  promptTokens: number;
  completionTokens: number;
  batch?: boolean | undefined;
}

/**
 * Money spent by calls (usage records): cache hits cost nothing; `free(model)` marks models that
 * cost nothing (the simulator, a self-hosted server).
 */
export function summarizeCost(calls: Iterable<PricedCall>, table: PriceTable, free: (model: string) => boolean = () => false): MoneySummary {
  const s: MoneySummary = { total: { usd: 0, unpriced: [] }, byStage: {}, byRole: {}, byStageRole: {} };
  const add = (t: MoneyTotals, usd: number | undefined, model: string) => {
    if (usd === undefined) {
      if (!t.unpriced.includes(model)) t.unpriced.push(model);
    } else t.usd += usd;
  };
  for (const c of calls) {
    if (c.cacheHit || free(c.model) || c.promptTokens + c.completionTokens === 0) continue;
    const price = priceFor(c.model, table);
    const usd = price ? costUsd(c, price, c.batch ? 'batch' : 'sync') : undefined;
    add(s.total, usd, c.model);
    add((s.byStage[c.stage] ??= { usd: 0, unpriced: [] }), usd, c.model);
    add((s.byRole[c.role] ??= { usd: 0, unpriced: [] }), usd, c.model);
    add((s.byStageRole[`${c.stage}/${c.role}`] ??= { usd: 0, unpriced: [] }), usd, c.model);
  }
  return s;
}

/** Dollars for people: cents below $100, whole dollars above. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  if (usd < 0.01) return '<$0.01';
  return usd < 100 ? `$${usd.toFixed(2)}` : `$${Math.round(usd).toLocaleString('en-US')}`;
}
