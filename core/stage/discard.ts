// `r4ec run --force STAGE`: a finished stage's output is removed, with the work areas its key names
// (construct's records, refine's entity records, encode's shards), so the stage computes it again
// from scratch (the LLM answer cache still answers every call that completed before). The manifest
// goes first: from that moment the output does not exist, and a crash before the recompute ends
// leaves a stage that simply runs again.
import type { ArtifactName } from '../rules';
import { recordPrefix } from '../refine/record';
import { MANIFEST, type ArtifactStore } from '../store';

export function workAreasOf(name: ArtifactName, key: string): string[] {
  const [stage, domain] = name.split(':');
  const hash = key.split('/')[1] ?? '';
  if (stage === 'construct' && domain) return [`construct-work/${hash}/${domain}/`];
  if (stage === 'refine' && domain) return [recordPrefix(key)];
  if (stage === 'encode') return [`encode-work/${key.split('/').join('-')}/`];
  return [];
}

/** Deletes the output under `key` and its work areas; returns how many objects went. */
export async function discardStageOutput(store: ArtifactStore, name: ArtifactName, key: string): Promise<number> {
  let n = 0;
  const manifest = `${key}/${MANIFEST}`;
  if (await store.exists(manifest)) {
    await store.delete(manifest);
    n++;
  }
  for (const prefix of [`${key}/`, ...workAreasOf(name, key)]) {
    for (const k of await store.list(prefix)) {
      await store.delete(k);
      n++;
    }
  }
  return n;
}
