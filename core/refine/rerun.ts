// `r4ec rerun --run X --failed`: which entities to redo. The store's entity records are the source
// of truth (visibility is eventually consistent); the same question asked of Temporal's visibility
// (failedEntitiesQuery in core/rules) is what operators type.
import type { ArtifactStore } from '../store';
import { isFailed, readRecord, recordPrefix } from './record';

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
