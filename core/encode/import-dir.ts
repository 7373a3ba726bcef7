// Knowledge made elsewhere, brought into a run (`r4ec run --knowledge-from DIR`): DIR/<set>/<domain>.jsonl
// for set ∈ kar | r2ec | r4ec and domain ∈ user | item, one `{ "entityId", "texts": [...] }` per line
// (imported.ts checks each line). The files become a refine-format output in the store, keyed by
// their content and the ingested dataset's, so encode, train and report read them exactly as they
// read refine's, and the same files give the same keys (the run's stages are reused), other files
// new ones. Every line of every file is checked before anything is written.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DOMAINS, KNOWLEDGE_SETS, type Domain, type KnowledgeSet } from '../../config/names';
import { DataError } from '../data/errors';
import { StageOutput, stageKey, type ArtifactStore } from '../store';
import { hashJson, sha256 } from '../util/hash';
import { loadEncodeDataset } from './dataset';
import { parseImportedKnowledge } from './imported';
import type { KnowledgeRecord } from './knowledge';
import { knowledgeFileName } from './stage';

/** Bump when the imported output for the same files changes. */
export const IMPORT_CODE_VERSION = 'import-1';

export interface KnowledgeDir {
  /** Absolute path of DIR. */
  dir: string;
  /** The knowledge sets DIR holds (both domains each), in canonical order. */
  sets: KnowledgeSet[];
  /** Hash of every file's content (with its set and domain): what the run id and the keys follow. */
  contentHash: string;
}

const SUGGESTION = 'lay the files out as DIR/<set>/<domain>.jsonl with set one of kar, r2ec, r4ec and domain user or item';

/** The files of DIR and their content hash; a layout that is not DIR/<set>/<domain>.jsonl is an error naming the path. */
export async function scanKnowledgeDir(dirArg: string): Promise<KnowledgeDir & { files: Record<string, Buffer> }> {
  const dir = resolve(dirArg);
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    entries = (await readdir(dir)).sort();
  } catch (err) {
    throw new DataError(dir, 0, '(directory)', 'a directory of knowledge files (DIR/<set>/<domain>.jsonl)', (err as Error).message, { suggestion: SUGGESTION });
  }
  const sets: KnowledgeSet[] = [];
  const files: Record<string, Buffer> = {};
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const isDir = (await stat(path)).isDirectory();
    if (!isDir) continue; // a README or a manifest beside the sets is not knowledge
    if (!(KNOWLEDGE_SETS as readonly string[]).includes(name)) {
      throw new DataError(path, 0, '(directory)', `a knowledge set directory (${KNOWLEDGE_SETS.join(', ')})`, name, { suggestion: SUGGESTION });
    }
    const set = name as KnowledgeSet;
    const inside = (await readdir(path)).filter((f) => !f.startsWith('.')).sort();
    const stray = inside.filter((f) => f.endsWith('.jsonl') && !DOMAINS.some((d) => f === `${d}.jsonl`));
    if (stray.length) throw new DataError(join(path, stray[0]!), 0, '(file)', `${DOMAINS.map((d) => `${d}.jsonl`).join(' or ')}`, stray[0], { suggestion: SUGGESTION });
    for (const domain of DOMAINS) {
      const file = join(path, `${domain}.jsonl`);
      try {
        files[`${set}/${domain}`] = await readFile(file);
      } catch {
        throw new DataError(file, 0, '(file)', `the ${set} knowledge of every ${domain} (one JSON object per line); a set needs both user.jsonl and item.jsonl`, undefined, { suggestion: SUGGESTION });
      }
    }
    sets.push(set);
  }
  if (sets.length === 0) throw new DataError(dir, 0, '(directory)', `at least one knowledge set directory (${KNOWLEDGE_SETS.join(', ')})`, entries.join(', ') || '(empty)', { suggestion: SUGGESTION });
  sets.sort((a, b) => KNOWLEDGE_SETS.indexOf(a) - KNOWLEDGE_SETS.indexOf(b));
  return { dir, sets, contentHash: contentHashOf(files), files };
}

function contentHashOf(files: Record<string, Buffer>): string {
  return hashJson(Object.fromEntries(Object.entries(files).map(([name, data]) => [name, sha256(data)])));
}

export interface ImportedCounts {
  /** Records per set and domain. */
  records: Partial<Record<KnowledgeSet, Record<Domain, number>>>;
}

/**
 * Reads DIR (which must still hold the files `expected` describes), checks every line against the
 * ingested dataset, and commits the refine-format output. Idempotent: the committed output of the
 * same files and dataset is returned as it is.
 */
export async function importKnowledgeDir(
  store: ArtifactStore,
  a: { expected: KnowledgeDir; ingest: { key: string; contentHash: string } },
): Promise<{ key: string; contentHash: string; reused: boolean; counts: ImportedCounts }> {
  const key = stageKey({ stage: 'refine', codeVersion: IMPORT_CODE_VERSION, config: { imported: a.expected.sets }, inputs: [a.expected.contentHash, a.ingest.contentHash] });
  const out = new StageOutput(store, key);
  if (await out.isComplete()) {
    const meta = (await out.manifest()).meta as { counts?: ImportedCounts };
    return { key, contentHash: await out.contentHash(), reused: true, counts: meta.counts ?? { records: {} } };
  }
  const found = await scanKnowledgeDir(a.expected.dir);
  if (found.contentHash !== a.expected.contentHash || found.sets.join() !== a.expected.sets.join()) {
    throw new DataError(a.expected.dir, 0, '(directory)', `the files the run was started with (sets ${a.expected.sets.join(', ')}, content ${a.expected.contentHash.slice(0, 12)})`, `sets ${found.sets.join(', ')}, content ${found.contentHash.slice(0, 12)}`, {
      suggestion: 'the knowledge files changed after the run started: run `r4ec run --knowledge-from DIR` again (a new run id follows the new content)',
    });
  }
  const dataset = await loadEncodeDataset(store, a.ingest.key, { sequences: false });
  // Every file is checked before the first write: a bad line leaves nothing behind.
  const parsed: Array<{ set: KnowledgeSet; domain: Domain; records: KnowledgeRecord[] }> = [];
  for (const set of found.sets) {
    for (const domain of DOMAINS) {
      const file = join(found.dir, set, `${domain}.jsonl`);
      const ids = domain === 'user' ? dataset.userIds : dataset.itemIds;
      parsed.push({ set, domain, records: parseImportedKnowledge(found.files[`${set}/${domain}`]!.toString('utf8'), file, { domain, ids }) });
    }
  }
  const counts: ImportedCounts = { records: {} };
  for (const { set, domain, records } of parsed) {
    const sorted = [...records].sort((x, y) => x.index - y.index);
    await out.put(knowledgeFileName(set, domain), sorted.map((r) => JSON.stringify(r)).join('\n') + (sorted.length ? '\n' : ''));
    (counts.records[set] ??= { user: 0, item: 0 })[domain] = records.length;
  }
  const contentHash = await out.commit('refine', { imported: { sets: found.sets, contentHash: found.contentHash }, counts });
  return { key, contentHash, reused: false, counts };
}
