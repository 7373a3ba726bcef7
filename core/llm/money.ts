// The money a run spent, from its usage records (one per call, in the shared store) at `llm.prices`:
// per stage, role and stage/role, the batch price for Batch API answers; cache hits and the roles the
// simulator plays cost nothing; a model without a price is named, never counted as free.
import type { R4ecConfig } from '../../config/schema';
import { LLM_ROLES } from '../../config/names';
import type { ArtifactStore } from '../store';
import { priceTable, summarizeCost, type MoneySummary } from './prices';
import { UsageLedger } from './usage';

export type { MoneySummary };

/** Models that cost nothing: the simulator's, unless a configured endpoint serves the same name. */
export function freeModels(llm: Pick<R4ecConfig['llm'], 'teacher' | 'actor' | 'reflection' | 'simulator'>): (model: string) => boolean {
  const served = new Set(LLM_ROLES.flatMap((r) => (llm[r] ? [llm[r].model] : [])));
  const simulated = LLM_ROLES.some((r) => !llm[r]);
  return (model) => simulated && model === llm.simulator.model && !served.has(model);
}

export async function runMoney(store: ArtifactStore, runId: string, llm: R4ecConfig['llm']): Promise<MoneySummary> {
  const records = await new UsageLedger(store).read(runId);
  return summarizeCost(records, priceTable(llm.prices), freeModels(llm));
}
