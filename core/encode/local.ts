// Encode without the stage machinery: knowledge files in, the encode output format out, in a local
// directory (docs/ARCHITECTURE.md, "Knowledge vectors"). The same steps as the stage (validate,
// plan the distinct texts, encode, average per entity, approximated users from their items), minus
// shards and the store. For tests and measurements that feed the trainer directly.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DOMAINS, type Domain } from '../../config/names';
import { encodeNpy } from '../data/npy';
import { assembleRows, fillApproximated, type DomainCounts } from './assemble';
import type { EncodeDataset } from './dataset';
import { planEncoding, type KnowledgeRecord } from './knowledge';
import type { TextEncoderLike } from './shards';

export interface LocalKnowledgeSet {
  /** Directory name of the set in the output (`kar`, `oracle`, ...). */
  name: string;
  records: Record<Domain, readonly KnowledgeRecord[]>;
}

export async function encodeKnowledgeLocally(a: {
  dataset: EncodeDataset;
  sets: readonly LocalKnowledgeSet[];
  encoder: TextEncoderLike;
  outDir: string;
  batchSize?: number;
}): Promise<Record<string, Record<Domain, DomainCounts>>> {
  const dim = a.encoder.dim;
  const summary: Record<string, Record<Domain, DomainCounts>> = {};
  for (const set of a.sets) {
    const plans = { user: planEncoding(set.records.user), item: planEncoding(set.records.item) };
    const built = {} as Record<Domain, ReturnType<typeof assembleRows>>;
    for (const d of DOMAINS) {
      const vectors = await a.encoder.encode(plans[d].texts, { batchSize: a.batchSize ?? 32 });
      built[d] = assembleRows(plans[d], vectors, dim, d === 'user' ? a.dataset.userEntities : a.dataset.itemEntities);
    }
    if (plans.user.entities.some((e) => e.approximated)) fillApproximated(built.user, plans.user, built.item, dim, (u) => a.dataset.trainingItems(u));
    const dir = join(a.outDir, set.name);
    await mkdir(dir, { recursive: true });
    for (const d of DOMAINS) {
      const rows = d === 'user' ? a.dataset.userIds.length : a.dataset.itemIds.length;
      await writeFile(join(dir, `${d}.npy`), encodeNpy(built[d].matrix, [rows, dim]));
      await writeFile(join(dir, `${d}.ids.json`), JSON.stringify(d === 'user' ? a.dataset.userIds : a.dataset.itemIds));
    }
    summary[set.name] = { user: built.user.counts, item: built.item.counts };
  }
  return summary;
}
