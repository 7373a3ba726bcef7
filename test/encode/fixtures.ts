// A tiny ingested dataset (MovieLens format through the real ingest) and hand-made knowledge sets
// in the refine → encode format, for the activity and workflow tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetSchema } from '../../config/schema';
import type { KnowledgeSet } from '../../config/names';
import { loadDataset, type DatasetView } from '../../core/data/dataset';
import { ingest } from '../../core/data/ingest';
import type { KnowledgeRecord } from '../../core/encode/knowledge';
import { knowledgeFileName } from '../../core/encode/stage';
import { LocalStore, StageOutput } from '../../core/store';
import type { Artifact } from '../helpers/dataset';

export type { Artifact };

export interface EncodeFixture {
  root: string;
  stateDir: string;
  store: LocalStore;
  ingest: Artifact;
  view: DatasetView;
  cleanup(): void;
}

const GENRES = ['Drama', 'Comedy|Romance', "Children's|Animation", 'Sci-Fi|Action', 'Horror|Thriller', 'Documentary'];

/** 5 users x 20 ratings over 30 movies, ingested with the project's own ingest into a temp store. */
export async function makeEncodeFixture(): Promise<EncodeFixture> {
  const root = mkdtempSync(join(tmpdir(), 'r4ec-encode-'));
  const raw = join(root, 'ml');
  mkdirSync(raw);
  const movies = Array.from({ length: 30 }, (_, j) => `${j + 1}::Movie ${j + 1} (19${60 + j})::${GENRES[j % GENRES.length]}`);
  const users = Array.from({ length: 5 }, (_, u) => `${u + 1}::F::25::${u}::0000${u}`);
  const ratings: string[] = [];
  for (let u = 1; u <= 5; u++) {
    for (let j = 0; j < 20; j++) ratings.push(`${u}::${((j * 7 + u * 5) % 30) + 1}::${((j + u) % 5) + 1}::${978300000 + j * 60 + u}`);
  }
  writeFileSync(join(raw, 'movies.dat'), movies.join('\n') + '\n');
  writeFileSync(join(raw, 'users.dat'), users.join('\n') + '\n');
  writeFileSync(join(raw, 'ratings.dat'), ratings.join('\n') + '\n');
  // The store where a worker process with R4EC_STATE_DIR=stateDir finds it (the default local store).
  const stateDir = join(root, 'state');
  const store = new LocalStore(join(stateDir, 'store'));
  const res = await ingest({ store, dataset: { ...DatasetSchema.parse({ kind: 'ml-1m' }) }, dir: raw });
  return {
    root,
    stateDir,
    store,
    ingest: { key: res.key, contentHash: res.contentHash },
    view: await loadDataset(store, res.key),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Knowledge sets for every item in the entity set (`perItem` distinct samples each, some NaN/empty,
 * a `kept` mask on r4ec) and users: user 0 approximated, user 1 without a record, user 2 with only
 * NaN samples, the rest with knowledge. Committed as a refine output.
 */
export async function writeKnowledge(f: EncodeFixture, opts: { sets?: KnowledgeSet[]; perItem?: number; tag?: string } = {}): Promise<Artifact> {
  const sets = opts.sets ?? ['kar', 'r2ec', 'r4ec'];
  const perItem = opts.perItem ?? 3;
  const key = `refine/test-${opts.tag ?? 'k'}`;
  const out = new StageOutput(f.store, key);
  const meta = f.view.meta;
  for (const set of sets) {
    const items: KnowledgeRecord[] = [];
    meta.items.forEach((it, j) => {
      if (it.trainCount === 0) return;
      const texts: (string | null)[] = Array.from(
        { length: perItem },
        (_, k) => `${set} sample ${k}: ${it.title} is ${it.genres.join(' and ').toLowerCase()}, liked by ${k % 2 ? 'families' : 'critics'}.`,
      );
      if (j % 4 === 1) texts.push('NaN');
      if (j % 5 === 2) texts.push('');
      const rec: KnowledgeRecord = { entityId: it.id, index: j + 1, texts };
      if (set === 'r4ec') rec.kept = texts.map((_, k) => k % 2 === 0);
      items.push(rec);
    });
    const users: KnowledgeRecord[] = [];
    meta.users.forEach((id, u) => {
      if (u === 0) users.push({ entityId: id, index: u, texts: [], approximated: true });
      else if (u === 1) return;
      else if (u === 2) users.push({ entityId: id, index: u, texts: ['NaN', null] });
      else users.push({ entityId: id, index: u, texts: [`${set}: user ${id} enjoys thoughtful dramas.`, `${set}: user ${id} dislikes horror.`] });
    });
    await out.put(knowledgeFileName(set, 'item'), items.map((r) => JSON.stringify(r)).join('\n') + '\n');
    await out.put(knowledgeFileName(set, 'user'), users.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }
  const contentHash = await out.commit('refine', { test: true });
  return { key, contentHash };
}
