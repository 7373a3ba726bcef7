// ingest on the cpu queue: resolve the raw files, reuse or build the content-keyed dataset.
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { DatasetSchema } from '../config/schema';
import { DataError, ingest, synthesizeDataset, SYNTH_DEFAULTS, SYNTH_MARKER, type IngestProgress, type IngestSummary } from '../core/data';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

const IngestDatasetInput = z.object({ dataset: DatasetSchema });
export type IngestDatasetInput = z.input<typeof IngestDatasetInput>;

export interface IngestDatasetOutput {
  key: string;
  contentHash: string;
  /** True when the dataset was already in the store (same files, same config slice). */
  skipped: boolean;
  summary: IngestSummary;
  /** Where the raw files were read from (for logs and the report). */
  dir: string;
}

/** The directory with the raw files: `dataset.path`, or for synthetic `<stateDir>/data/synthetic[-UxI-seed]` (generated when missing). */
export async function resolveDatasetDir(dataset: z.infer<typeof DatasetSchema>, stateDir: string): Promise<string> {
  if (dataset.path) return resolve(dataset.path);
  if (dataset.kind !== 'synthetic') {
    throw new DataError('dataset.path', 0, 'dataset.path', `the directory with the ${dataset.kind} files (required for kind ${dataset.kind})`, 'nothing');
  }
  const { users, items, seed } = dataset.synthetic;
  const isDefault = users === SYNTH_DEFAULTS.users && items === SYNTH_DEFAULTS.items && seed === SYNTH_DEFAULTS.seed;
  // Another size gets a directory of its own, so a state dir never reuses a set of the wrong size.
  const dir = resolve(stateDir, 'data', isDefault ? 'synthetic' : `synthetic-${users}x${items}-${seed}`);
  try {
    await access(join(dir, SYNTH_MARKER));
  } catch {
    await synthesizeDataset({ outDir: dir, ...SYNTH_DEFAULTS, users, items, seed });
  }
  return dir;
}

export function createIngestActivities(deps: ActivityDeps) {
  return {
    async ingestDataset(raw: IngestDatasetInput): Promise<IngestDatasetOutput> {
      const input = parseInput(IngestDatasetInput, raw, 'ingestDataset');
      const ctx = Context.current();
      try {
        return await withHeartbeat(async (beat) => {
          const dir = await resolveDatasetDir(input.dataset, deps.stateDir);
          const r = await ingest({
            store: deps.store,
            dataset: input.dataset,
            dir,
            hashCachePath: join(deps.stateDir, 'cache', 'file-sha256.json'),
            onProgress: (p: IngestProgress) => beat(p),
          });
          ctx.log.info('ingest done', { key: r.key, skipped: r.skipped, ...r.summary });
          return { key: r.key, contentHash: r.contentHash, skipped: r.skipped, summary: r.summary, dir };
        });
      } catch (err) {
        // A bad file cannot be fixed by retrying: fail once, with where and what.
        if (err instanceof DataError) throw toFailure(err);
        throw err;
      }
    },
  };
}
