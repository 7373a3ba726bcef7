// Imported knowledge (cpu queue): DIR/<set>/<domain>.jsonl checked against the ingested dataset and
// committed as a refine-format output (core/encode/import-dir.ts). The workflow hands over only the
// directory, the sets and the content hash; the texts go from the files to the store here.
import { z } from 'zod';
import { KNOWLEDGE_SETS } from '../config/names';
import { DataError } from '../core/data/errors';
import { importKnowledgeDir, type ImportedCounts } from '../core/encode/import-dir';
import { StoreError } from '../core/store';
import type { ActivityDeps } from './deps';
import { toFailure } from './failure';
import { withHeartbeat } from './heartbeat';
import { parseInput } from './validate';

const Input = z.object({
  dir: z.string().min(1),
  sets: z.array(z.enum(KNOWLEDGE_SETS)).nonempty(),
  contentHash: z.string().min(1),
  ingest: z.object({ key: z.string().min(1), contentHash: z.string().min(1) }),
});
export type ImportKnowledgeInput = z.input<typeof Input>;
export interface ImportKnowledgeOutput {
  key: string;
  contentHash: string;
  reused: boolean;
  counts: ImportedCounts;
}

export function createKnowledgeImportActivities(deps: ActivityDeps) {
  return {
    async importKnowledge(raw: ImportKnowledgeInput): Promise<ImportKnowledgeOutput> {
      const input = parseInput(Input, raw, 'importKnowledge');
      try {
        return await withHeartbeat(() => importKnowledgeDir(deps.store, { expected: { dir: input.dir, sets: input.sets, contentHash: input.contentHash }, ingest: input.ingest }));
      } catch (err) {
        // A bad line cannot be fixed by another attempt: the failure names file, line and field.
        if (err instanceof DataError) throw toFailure(err, { type: 'BadKnowledgeData' });
        if (err instanceof StoreError && err.code !== 'io') throw toFailure(err, { type: 'StoreError' });
        throw err;
      }
    },
  };
}
