// The ingest stage as one pure-ish function (files in, store out): resolve the raw files, hash
// them, derive the content key, and either reuse the stored dataset or build and write it.
import { basename } from 'node:path';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { loadAmazonBooks, resolveAmazonFiles } from './amazon';
import { writeDataset } from './dataset';
import type { DuplicatePolicy } from './duplicates';
import { DataError } from './errors';
import { cachedSha256File } from './files';
import { summaryOf, type DatasetCounts, type IngestSummary } from './meta';
import { loadMovieLens, resolveMovieLensFiles } from './movielens';
import type { DatasetKind, RawDataset, SourceFile } from './raw';
import { buildDataset } from './split';

/**
 * Bumped whenever the code changes what ingest produces for the same files and config. v2: repeated
 * (user, item, timestamp) lines and double-encoded text fail (a v1 dataset may hold them).
 */
export const INGEST_CODE_VERSION = 'ingest-v2';

export interface IngestDatasetConfig {
  kind: DatasetKind;
  ratingsFile?: string | undefined;
  historyLength: number;
  trainFraction: number;
  kCore: { user: number; item: number };
  /** Repeated (user, item, timestamp) lines: an error (default) or dropped and counted. */
  duplicates?: DuplicatePolicy | undefined;
}

export type IngestProgress = { phase: 'hash' | 'read' | 'split' | 'write'; file?: string; line?: number };

export interface IngestOptions {
  store: ArtifactStore;
  dataset: IngestDatasetConfig;
  /** Directory with the raw files (already resolved). */
  dir: string;
  /** Where file hashes are remembered between runs (optional). */
  hashCachePath?: string;
  onProgress?: (p: IngestProgress) => void;
}

export interface IngestResult {
  key: string;
  contentHash: string;
  skipped: boolean;
  summary: IngestSummary;
  counts: DatasetCounts;
  sources: SourceFile[];
}

/** The config slice the dataset depends on. The path is not in it: the files' hashes are. */
export function ingestConfigSlice(d: IngestDatasetConfig): Record<string, unknown> {
  return {
    kind: d.kind,
    historyLength: d.historyLength,
    trainFraction: d.trainFraction,
    ...(d.kind === 'amazon-books' ? { kCore: d.kCore } : {}),
    // With `error` the output is what it always was (or ingest fails): only `drop` enters the key.
    ...(d.duplicates === 'drop' ? { duplicates: 'drop' } : {}),
  };
}

async function resolveFiles(d: IngestDatasetConfig, dir: string): Promise<Record<string, string>> {
  if (d.kind === 'amazon-books') return { ...(await resolveAmazonFiles(dir, d.ratingsFile)) };
  return { ...(await resolveMovieLensFiles(dir, d.ratingsFile)) };
}

export async function ingest(opts: IngestOptions): Promise<IngestResult> {
  const d = opts.dataset;
  const files = await resolveFiles(d, opts.dir);
  const sources: SourceFile[] = [];
  for (const [role, path] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
    opts.onProgress?.({ phase: 'hash', file: basename(path) });
    const h = await cachedSha256File(path, opts.hashCachePath);
    sources.push({ role, name: basename(path), ...h });
  }
  const key = stageKey({
    stage: 'ingest',
    codeVersion: INGEST_CODE_VERSION,
    config: ingestConfigSlice(d),
    inputs: sources.map((s) => `${s.role}:${s.sha256}`),
  });
  const out = new StageOutput(opts.store, key);
  if (await out.isComplete()) {
    const manifest = await out.manifest();
    const counts = manifest.meta.counts as DatasetCounts;
    return { key, contentHash: await out.contentHash(), skipped: true, summary: summaryOf(counts), counts, sources };
  }

  const onProgress = (file: string, line: number) => opts.onProgress?.({ phase: 'read', file, line });
  let raw: RawDataset;
  if (d.kind === 'amazon-books') {
    raw = await loadAmazonBooks(files as { reviews: string; meta: string }, {
      userCore: d.kCore.user,
      itemCore: d.kCore.item,
      duplicates: d.duplicates ?? 'error',
      onProgress,
    });
  } else {
    raw = await loadMovieLens(files as { ratings: string; movies: string; users: string }, { kind: d.kind, duplicates: d.duplicates ?? 'error', onProgress });
  }
  opts.onProgress?.({ phase: 'split' });
  const built = buildDataset(raw, { historyLength: d.historyLength, trainFraction: d.trainFraction });
  if (built.meta.counts.train === 0 || built.meta.counts.test === 0) {
    // An empty split would only fail later, far from its cause (e.g. a k-core that keeps nobody).
    const main = files.ratings ?? files.reviews ?? opts.dir;
    throw new DataError(main, 0, 'dataset', 'at least one train and one test sample after filtering and the split', `train ${built.meta.counts.train}, test ${built.meta.counts.test}`);
  }
  built.meta.sources = sources;
  opts.onProgress?.({ phase: 'write' });
  const contentHash = await writeDataset(out, built, { counts: built.meta.counts, sources, codeVersion: INGEST_CODE_VERSION });
  return { key, contentHash, skipped: false, summary: summaryOf(built.meta.counts), counts: built.meta.counts, sources };
}
