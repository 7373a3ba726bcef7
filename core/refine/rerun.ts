// `r4ec rerun --run X --failed`: which entities to redo, and the same question asked of Temporal's
// visibility (the Web UI / `temporal workflow list` query). The store's entity records are the
// source of truth (visibility is eventually consistent); the query is what operators type.
import { FAILED_OUTCOMES } from './steps';
import type { Domain } from '../../config/names';
import type { ArtifactStore } from '../store';
import { isFailed, readRecord, recordPrefix } from './record';

function quote(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The visibility query for a run's failed refine entities (paste into the Web UI or `temporal workflow list --query`). */
export function failedEntitiesQuery(runId: string, domain?: Domain): string {
  const parts = [`R4ecRunId=${quote(runId)}`, `R4ecStage="refine"`, `R4ecOutcome IN (${FAILED_OUTCOMES.map((o) => quote(o)).join(',')})`];
  if (domain) parts.push(`R4ecDomain=${quote(domain)}`);
  return parts.join(' AND ');
}

export interface FailedEntity {
  entityId: string;
  index: number;
  outcome: 'failed_format' | 'failed_transport';
  error: string;
}

/** Every entity of an output whose record says failed_format or failed_transport, in index order. */
export async function listFailedEntities(store: ArtifactStore, outputKey: string): Promise<FailedEntity[]> {
  return (await scanRecords(store, outputKey)).failed;
}

/**
 * The failed entities, and when a record was last written: a record newer than the committed output
 * (an entity workflow reset by hand with `temporal workflow reset`) means the output must be rewritten.
 */
export async function scanRecords(store: ArtifactStore, outputKey: string): Promise<{ failed: FailedEntity[]; newestUpdate: string | null }> {
  const out: FailedEntity[] = [];
  let newest: string | null = null;
  const indices = (await store.list(recordPrefix(outputKey))).flatMap((k) => {
    const m = /\/e(\d+)\.json$/.exec(k);
    return m ? [Number(m[1])] : [];
  });
  for (let i = 0; i < indices.length; i += 64) {
    const recs = await Promise.all(indices.slice(i, i + 64).map((index) => readRecord(store, outputKey, index)));
    for (const r of recs) {
      if (r && (newest === null || r.updatedAt > newest)) newest = r.updatedAt;
      if (r && isFailed(r.outcome)) out.push({ entityId: r.entityId, index: r.index, outcome: r.outcome as FailedEntity['outcome'], error: r.error?.message ?? '' });
    }
  }
  return { failed: out.sort((a, b) => a.index - b.index), newestUpdate: newest };
}
