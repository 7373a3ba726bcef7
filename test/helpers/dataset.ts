// The one synthetic-dataset fixture: seeded MovieLens-format data from the project's generator,
// ingested by the project's own ingest into the caller's store. Tests and benchmarks that need a
// real ingested dataset (but not the shared MovieLens data) start here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetSchema } from '../../config/schema';
import { loadDataset, type DatasetView } from '../../core/data/dataset';
import { ingest } from '../../core/data/ingest';
import { synthesizeDataset } from '../../core/data/synth';
import type { ArtifactStore } from '../../core/store';

/** A committed stage output as stage inputs name it. */
export interface Artifact {
  key: string;
  contentHash: string;
}

export interface IngestedSynthetic {
  ingest: Artifact;
  view: DatasetView;
}

/**
 * Synthesizes `users` × `items` (seed 7 unless given) and ingests it into `store`. The raw files
 * live in a temp folder only while ingesting: the ingest key follows content, not the path.
 */
export async function ingestSynthetic(store: ArtifactStore, opts: { users: number; items: number; seed?: number }): Promise<IngestedSynthetic> {
  const dir = mkdtempSync(join(tmpdir(), 'r4ec-synth-'));
  try {
    await synthesizeDataset({ outDir: dir, seed: opts.seed ?? 7, users: opts.users, items: opts.items });
    const r = await ingest({ store, dataset: DatasetSchema.parse({ kind: 'synthetic' }), dir });
    return { ingest: { key: r.key, contentHash: r.contentHash }, view: await loadDataset(store, r.key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
